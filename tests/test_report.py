import csv
import math

import numpy as np
import pytest
from mlflow.entities import Metric
from scipy import stats

from al4ml.report import build_report, collect, group, labels_to_reach, win_matrix
from al4ml.tracking import experiment_id, get_client

STEPS = [20, 40, 60, 80, 100]


def curve_for(strategy: str, aug: str, seed: int) -> list[float]:
    """Planted curves: entropy above random, trivialaugment above none, seed noise."""
    rng = np.random.default_rng(hash((strategy, aug, seed)) % 2**32)
    lift = {"random": 0.0, "entropy": 0.05}[strategy] + {"none": 0.0, "trivialaugment": 0.02}[aug]
    base = np.array([0.5, 0.65, 0.75, 0.82, 0.86])
    return (base + lift + rng.normal(0, 0.005, len(base))).clip(0, 1).tolist()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('rep') / 'm.db'}"
    client = get_client(uri)
    exp = experiment_id(client, "synthetic")
    parent = client.create_run(exp, tags={"al4ml.role": "grid", "al4ml.grid": "synthetic"})
    pid = parent.info.run_id
    raw = {}
    for strategy in ("random", "entropy"):
        for aug in ("none", "trivialaugment"):
            for seed in range(4):
                run = client.create_run(exp, tags={
                    "mlflow.parentRunId": pid, "al4ml.role": "cell", "strategy": strategy,
                    "augmentation": aug, "seed": str(seed)})
                values = curve_for(strategy, aug, seed)
                client.log_batch(run.info.run_id, metrics=[
                    Metric("test_accuracy", v, 0, s) for s, v in zip(STEPS, values, strict=True)])
                client.set_terminated(run.info.run_id, "FINISHED")
                raw[strategy, aug, seed] = values
    base = client.create_run(exp, tags={"al4ml.role": "baseline", "augmentation": "none"})
    client.log_batch(base.info.run_id, metrics=[Metric("test_accuracy", 0.95, 0, 546)])
    client.set_terminated(base.info.run_id, "FINISHED")
    return uri, pid, raw


def independent_aulc(values: list[float]) -> float:
    total = 0.0
    span = STEPS[-1] - STEPS[0]
    for i in range(1, len(STEPS)):
        total += (values[i] + values[i - 1]) / 2 * (STEPS[i] - STEPS[i - 1]) / span
    return total


def test_report_files_and_aulc_recomputed_from_raw_histories(store, tmp_path):
    uri, pid, raw = store
    client = get_client(uri)
    md = build_report(client, pid, tmp_path, target=0.85)
    files = {p.name for p in tmp_path.iterdir()}
    assert {"report.md", "report.html", "learning_curves.png", "aulc.csv",
            "win_matrix_strategy.png", "win_matrix_augmentation.png"} <= files
    text = md.read_text()
    assert "![learning_curves.png](learning_curves.png)" in text and "0.950" in text
    rows = {(r["strategy"], r["augmentation"]): r
            for r in csv.DictReader((tmp_path / "aulc.csv").open())}
    assert len(rows) == 4
    for (strategy, aug), row in rows.items():
        areas = [independent_aulc(raw[strategy, aug, s]) for s in range(4)]
        lo, hi = stats.t.interval(0.95, 3, loc=np.mean(areas), scale=stats.sem(areas))
        assert float(row["aulc_mean"]) == pytest.approx(np.mean(areas), abs=1e-6)
        assert float(row["aulc_ci95"]) == pytest.approx((hi - lo) / 2, abs=1e-6)
        finals = [raw[strategy, aug, s][-1] for s in range(4)]
        assert float(row["final_mean"]) == pytest.approx(np.mean(finals), abs=1e-6)
    logged = {a.path for a in client.list_artifacts(pid, "report")}
    assert {"report/report.md", "report/report.html", "report/aulc.csv"} <= logged


def test_paired_comparisons_and_win_matrix_see_the_planted_order(store, tmp_path):
    uri, pid, raw = store
    text = build_report(get_client(uri), pid, tmp_path).read_text()
    section = text.split("## Paired comparisons")[1].split("##")[0]
    entropy_vs_random = [ln for ln in section.splitlines() if ln.startswith("| entropy | random | none")]
    diff = float(entropy_vs_random[0].split("|")[5].split("±")[0])
    expected = np.mean([independent_aulc(raw["entropy", "none", s])
                        - independent_aulc(raw["random", "none", s]) for s in range(4)])
    assert diff == pytest.approx(expected, abs=5e-4)
    curves, _, _ = collect(get_client(uri), pid)
    names, p = win_matrix(group(curves), "strategy")
    assert names == ["entropy", "random"]
    assert p[0, 1] == pytest.approx(2.0)  # beats random at every budget under both augmentations
    assert p[1, 0] == 0.0
    names, p = win_matrix(group(curves), "augmentation")
    assert names == ["none", "trivialaugment"] and p[1, 0] > 1.5 and p[0, 1] == 0.0


def test_labels_to_reach_target():
    steps = np.array([20.0, 40, 60])
    assert labels_to_reach(steps, np.array([0.5, 0.9, 0.95]), 0.9) == 40
    assert math.isnan(labels_to_reach(steps, np.array([0.5, 0.6, 0.7]), 0.9))


def test_unknown_source_is_a_clear_error(store):
    from al4ml.errors import ConfigError

    uri, _, _ = store
    with pytest.raises(ConfigError, match="no grid run or experiment named 'nope'"):
        build_report(get_client(uri), "nope", __import__("pathlib").Path("/tmp/unused"))


def test_report_by_experiment_name_includes_standalone_runs(store, tmp_path):
    uri, _, _ = store
    client = get_client(uri)
    exp = experiment_id(client, "synthetic")
    run = client.create_run(exp, tags={"strategy": "margin", "augmentation": "none", "seed": "0"})
    client.log_batch(run.info.run_id, metrics=[Metric("test_accuracy", 0.7, 0, s) for s in STEPS])
    client.set_terminated(run.info.run_id, "FINISHED")
    curves, baselines, parent = collect(client, "synthetic")
    assert parent is None and baselines == {"none": 0.95}
    assert len(curves) == 17 and {c.strategy for c in curves} == {"random", "entropy", "margin"}
