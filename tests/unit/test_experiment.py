import pytest
from helpers import CrashAfter, tiny_config

from al4ml.experiment import run_experiment
from al4ml.records import CellObserver
from al4ml.tracking import get_client

TIMINGS = ("train_seconds", "query_seconds")


def metric_values(client, run_id, name):
    return [(m.step, m.value) for m in client.get_metric_history(run_id, name)]


def test_resume_after_a_crash_continues_the_same_trajectory(tracking_uri):
    cfg = tiny_config()
    full = run_experiment(cfg, tracking_uri, progress=False)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(cfg, tracking_uri, progress=False, observers=(CrashAfter(1),))
    client = get_client(tracking_uri)
    crashed = [
        r
        for r in client.search_runs([client.get_experiment_by_name("test").experiment_id])
        if r.info.status == "FAILED"
    ]
    assert len(crashed) == 1
    assert crashed[0].data.tags["al4ml.error"] == "RuntimeError: simulated crash"
    run_id = crashed[0].info.run_id
    assert [s for s, _ in metric_values(client, run_id, "test_accuracy")] == [10, 20]
    resumed = run_experiment(cfg, tracking_uri, progress=False, resume_run_id=run_id)
    assert resumed.run_id == run_id
    assert client.get_run(run_id).info.status == "FINISHED"
    for name in ("test_accuracy", "val_loss", "train_loss", "n_labeled"):
        assert metric_values(client, run_id, name) == metric_values(client, full.run_id, name)
    assert [r.queried for r in resumed.state.history] == [r.queried for r in full.state.history]


def test_resume_refuses_a_finished_run_a_changed_config_and_an_unknown_run(tracking_uri):
    from al4ml.errors import ConfigError

    cfg = tiny_config()
    done = run_experiment(cfg, tracking_uri, progress=False)
    with pytest.raises(ConfigError, match="already finished"):
        run_experiment(cfg, tracking_uri, progress=False, resume_run_id=done.run_id)
    with pytest.raises(ConfigError, match="query.strategy=entropy, not margin"):
        run_experiment(
            tiny_config(**{"query.strategy": "margin"}),
            tracking_uri,
            progress=False,
            resume_run_id=done.run_id,
        )
    with pytest.raises(ConfigError, match="no run 'abc'"):
        run_experiment(cfg, tracking_uri, progress=False, resume_run_id="abc")


@pytest.mark.parametrize("hole", [40, 20], ids=["last round", "a middle round"])
def test_resume_repairs_a_finished_run_with_a_hole(tracking_uri, tmp_path, hole):
    """A run closed FINISHED without one round's metrics (a store that refused a read, in
    versions before reads were retried) is found by resume and completed as it would have been."""
    import sqlite3

    cfg = tiny_config()
    full = run_experiment(cfg, tracking_uri, progress=False)
    holed = run_experiment(cfg, tracking_uri, progress=False)
    client = get_client(tracking_uri)
    with sqlite3.connect(tmp_path / "mlruns.db") as db:
        db.execute("DELETE FROM metrics WHERE run_uuid = ? AND step = ?", (holed.run_id, hole))
    assert hole not in [s for s, _ in metric_values(client, holed.run_id, "n_labeled")]
    assert client.get_run(holed.run_id).info.status == "FINISHED"
    run_experiment(cfg, tracking_uri, progress=False, resume_run_id=holed.run_id)
    assert client.get_run(holed.run_id).info.status == "FINISHED"
    for name in ("test_accuracy", "val_loss", "train_loss", "n_labeled"):  # each step once
        assert sorted(metric_values(client, holed.run_id, name)) == metric_values(
            client, full.run_id, name
        ), name


def test_a_failed_tracking_write_stops_the_writes_after_it():
    """A round the store refused must not be followed by the run's FINISHED status."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from al4ml.records import Deferred, LoopState, RoundRecord

    calls, go = [], threading.Event()

    class Store(CellObserver):
        def on_round(self, record, state):
            go.wait(30)
            calls.append("round")
            raise RuntimeError("database is locked")

        def on_finish(self, model, state):
            calls.append("finish")

    import torch

    state = LoopState(labeled_round=torch.tensor([0, -1]), labels=torch.tensor([1, -1]))
    with ThreadPoolExecutor(max_workers=1) as executor:
        deferred = Deferred(Store(), executor)
        deferred.on_round(RoundRecord(0, 10, {}), state)
        deferred.on_finish(None, state)  # queued behind the round, before it failed
        go.set()
        with pytest.raises(RuntimeError, match="locked"):
            deferred.wait()
    assert calls == ["round"]


def test_baseline_trains_on_the_whole_pool_once(tracking_uri):
    from al4ml.experiment import run_baseline

    result = run_baseline(tiny_config(), tracking_uri, progress=False)
    [record] = result.state.history
    assert record.n_labeled == result.state.labeled_mask.numel() and record.queried == []
    client = get_client(tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.tags["al4ml.role"] == "baseline" and run.info.status == "FINISHED"
    # Off the learning-curve charts: no strategy tag, every metric under ceiling_.
    assert "strategy" not in run.data.tags
    assert run.info.run_name == "baseline+none/s0"
    assert run.data.metrics and all(k.startswith("ceiling_") for k in run.data.metrics)
    steps = [m.step for m in client.get_metric_history(result.run_id, "ceiling_test_accuracy")]
    assert steps == [record.n_labeled]


def test_a_cohort_of_one_is_the_single_run(tmp_path):
    """The grid's cohort path with one cell gives the trajectory of ``al4ml run`` exactly."""
    from al4ml.experiment import CellSpec, run_cohort

    cfg = tiny_config(**{"augmentation.name": "trivialaugment", "query.strategy": "margin"})
    single = run_experiment(cfg, f"sqlite:///{tmp_path / 'a.db'}", progress=False)
    [cell] = run_cohort(
        [CellSpec(cfg, role="cell", axes={"seed": 0})], f"sqlite:///{tmp_path / 'b.db'}", progress=False
    )
    assert cell.error is None

    def trajectory(state):
        return [
            (r.n_labeled, r.queried, r.scores, {k: v for k, v in r.metrics.items() if k not in TIMINGS})
            for r in state.history
        ]

    assert trajectory(cell.state) == trajectory(single.state)
