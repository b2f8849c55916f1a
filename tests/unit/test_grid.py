import pytest
import yaml
from helpers import QUICKSTART, REPO, write_grid

from al4ml.errors import ConfigError
from al4ml.grid import load_grid, parent_run, plan
from al4ml.runs import CELL_TAG
from al4ml.tracking import get_client


def test_load_grid_expands_axes_into_resolved_cells(tmp_path):
    grid = load_grid(
        write_grid(tmp_path, {"query.strategy": ["random", "entropy", "margin"], "seed": [0, 1]})
    )
    assert len(grid.cells) == 6
    assert len({c.key for c in grid.cells}) == 6
    cell = grid.cells[-1]
    assert cell.values == {"query.strategy": "margin", "seed": 1}
    assert cell.config.query.strategy == "margin" and cell.config.seed == 1
    assert cell.config.training.epochs == 2 and cell.config.name == "tgrid"
    again = load_grid(
        write_grid(tmp_path, {"query.strategy": ["random", "entropy", "margin"], "seed": [0, 1]})
    )
    assert [c.key for c in again.cells] == [c.key for c in grid.cells]


def test_grid_errors_name_the_bad_cell(tmp_path):
    with pytest.raises(ConfigError, match=r"grid cell \[query.strategy=bogus\].*unknown strategy"):
        load_grid(write_grid(tmp_path, {"query.strategy": ["entropy", "bogus"]}))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "base": str(QUICKSTART), "axes": {}, "axis": 1}))
    with pytest.raises(ConfigError, match="axis"):
        load_grid(bad)


def test_shipped_grids_resolve():
    assert len(load_grid(REPO / "experiments" / "grid_digits.yaml").cells) == 18
    assert len(load_grid(REPO / "experiments" / "grid_breastmnist.yaml").cells) == 27
    assert len(load_grid(REPO / "experiments" / "grid_medmnist12_augment.yaml").cells) == 144
    searched = load_grid(REPO / "experiments" / "grid_search_digits.yaml")
    assert len(searched.cells) == 50
    assert {c.label.split("/")[0].split("+")[1] for c in searched.cells} == {
        "none",
        "trivialaugment",
        "randaugment",
        "search:grid",
        "search:density",
    }
    noisy = load_grid(REPO / "experiments" / "grid_noise_digits.yaml")
    assert {c.config.oracle.noise.rate for c in noisy.cells} == {0.0, 0.2}


def test_runs_logged_before_a_config_key_existed_still_count_for_their_cell(tmp_path):
    # A cell run logged by an al4ml without the newest config keys carries another cell hash;
    # re-running the grid must recognise it by its params, not run the cell again.
    from mlflow.entities import Param

    grid = load_grid(write_grid(tmp_path, {"query.strategy": ["random", "entropy"]}))
    client = get_client(f"sqlite:///{tmp_path / 'm.db'}")
    parent = parent_run(client, grid).run_id
    exp = client.get_run(parent).info.experiment_id

    def old_run(cell, **changed):
        params = {k: v for k, v in cell.config.flat().items() if k != "training.bf16"}
        run = client.create_run(exp, tags={"mlflow.parentRunId": parent, CELL_TAG: "old-hash"})
        client.log_batch(run.info.run_id, params=[Param(k, changed.get(k, v)) for k, v in params.items()])
        client.set_terminated(run.info.run_id, "FINISHED")

    random_cell, entropy_cell = grid.cells
    old_run(random_cell)
    old_run(entropy_cell, **{"training.lr": "0.5"})
    actions = {st.cell.values["query.strategy"]: st.action for st in plan(client, parent, grid)}
    assert actions == {"random": "done", "entropy": "new"}
    newer = load_grid(write_grid(tmp_path, {"query.strategy": ["random"]}), ["training.bf16=false"])
    assert [st.action for st in plan(client, parent, newer)] == ["new"]


def test_a_grid_rerun_with_another_shared_config_is_a_new_version(tmp_path):
    import json

    from al4ml.runs import AXES_TAG, VERSION_TAG

    client = get_client(f"sqlite:///{tmp_path / 'm.db'}")
    path = write_grid(tmp_path, {"query.strategy": ["random", "entropy"], "seed": [0, 1]})
    first = parent_run(client, load_grid(path))
    assert first.version == 1 and not first.new_version_because
    assert parent_run(client, load_grid(path)).run_id == first.run_id
    # More seeds and another strategy extend the same version; the axes tag is the union.
    wider = write_grid(tmp_path, {"query.strategy": ["margin"], "seed": [2]})
    assert parent_run(client, load_grid(wider)).run_id == first.run_id
    axes = json.loads(client.get_run(first.run_id).data.tags[AXES_TAG])
    assert axes == {"query.strategy": ["random", "entropy", "margin"], "seed": [0, 1, 2]}
    # Another --set changes the shared config: a new parent, version 2, saying why.
    second = parent_run(client, load_grid(path, ["training.epochs=5"]))
    assert second.run_id != first.run_id and second.version == 2
    assert second.new_version_because == "training.epochs: 2 -> 5"
    run = client.get_run(second.run_id)
    assert run.data.tags[VERSION_TAG] == "2" and run.info.run_name == "grid tgrid v2"
    assert run.data.params["training.epochs"] == "5" and "query.strategy" not in run.data.params
    # Going back to the first shared config finds the first version again.
    assert parent_run(client, load_grid(path)).run_id == first.run_id


def test_a_failed_cell_says_why_from_its_run(tmp_path):
    from al4ml.grid import CellStatus, _outcomes
    from al4ml.runs import ERROR_TAG

    grid = load_grid(write_grid(tmp_path, {"seed": [0, 1, 2, 3]}))
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = get_client(uri)
    parent = parent_run(client, grid).run_id
    exp = client.get_run(parent).info.experiment_id
    ends = [("FINISHED", None), ("FAILED", "RuntimeError: out of memory"), ("FAILED", None)]
    for cell, (status, why) in zip(grid.cells, ends, strict=False):  # the last cell never started
        tags = {"mlflow.parentRunId": parent, CELL_TAG: cell.key, **({ERROR_TAG: why} if why else {})}
        client.set_terminated(client.create_run(exp, tags=tags).info.run_id, status)
    cohort = [CellStatus(cell, "new") for cell in grid.cells]
    _outcomes(uri, parent, cohort, "")
    assert [(st.ok, st.error) for st in cohort] == [
        (True, ""),
        (False, "RuntimeError: out of memory"),
        (False, "run FAILED"),
        (False, "run not started"),
    ]
    _outcomes(uri, parent, cohort, "worker exited with code -9")
    assert [st.error for st in cohort[1:]] == [
        "RuntimeError: out of memory",
        "worker exited with code -9",
        "worker exited with code -9",
    ]


def test_a_sequential_look_over_some_cells_stays_in_the_grids_version(tmp_path):
    """A later look plans only the cells an open comparison needs. With a whole-section axis
    (``augmentation: [{name: none}, {name: randaugment, params: ...}]``) and a comparison along
    the strategy under RandAugment, those cells share augmentation keys the whole grid does
    not: that must not make a new version of the grid."""
    from al4ml.grid import prepare_grid
    from al4ml.runs import setting_hash

    path = write_grid(
        tmp_path,
        {
            "augmentation": [{"name": "none"}, {"name": "randaugment", "params": {"n": 2, "m": 30}}],
            "query.strategy": ["random", "entropy"],
        },
    )
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    first = prepare_grid(path, tracking_uri=uri, seeds=[0, 1, 2])
    kept = {
        setting_hash(c.config.flat()) for c in first.grid.cells if c.config.augmentation.name == "randaugment"
    }
    later = prepare_grid(
        path, tracking_uri=uri, seeds=list(range(6)), keep=lambda c: setting_hash(c.config.flat()) in kept
    )
    assert later.parent_run_id == first.parent_run_id and later.parent.version == 1
    assert {c.config.augmentation.name for c in later.grid.cells} == {"randaugment"}
    assert len(later.grid.cells) == 12


def test_the_grid_command_refuses_bad_options_before_anything_trains(tmp_path):
    """In this process: each bad option or cell is one line naming it; no store is made."""
    from helpers import cli, one_line_error

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    path = write_grid(tmp_path, {"query.strategy": ["random", "entropy"]})
    one_line_error(cli("grid", str(path), "--cohort-size", "many", "--tracking-uri", uri), "--cohort-size")
    one_line_error(
        cli("grid", str(path), "--until-resolved", "--compare", "model.name", "--tracking-uri", uri),
        "model.name",
    )
    one_line_error(
        cli(
            "grid",
            str(path),
            "--until-resolved",
            "--seed-batch",
            "4",
            "--max-seeds",
            "2",
            "--tracking-uri",
            uri,
        ),
        "--max-seeds 2",
    )
    bad = write_grid(tmp_path, {"query.strategy": ["entropy", "bogus"]})
    one_line_error(cli("grid", str(bad), "--tracking-uri", uri), "query.strategy=bogus", "unknown strategy")
    assert not (tmp_path / "m.db").exists()


def test_workers_share_the_cpus_this_process_may_use(monkeypatch):
    """``OMP_NUM_THREADS`` caps the threads a grid's workers share; without it, the process's
    CPU affinity does (what ``taskset`` or a container allows, not the machine's count)."""
    import os

    from al4ml.grid.workers import threads_per_worker

    monkeypatch.setenv("OMP_NUM_THREADS", "6")
    assert [threads_per_worker(w) for w in (1, 2, 4, 8)] == [6, 3, 1, 1]
    monkeypatch.delenv("OMP_NUM_THREADS")
    cpus = os.sched_getaffinity(0)
    assert threads_per_worker(1) == len(cpus)
    try:
        os.sched_setaffinity(0, {min(cpus)})
        assert threads_per_worker(1) == 1
    finally:
        os.sched_setaffinity(0, cpus)
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert threads_per_worker(1) == len(cpus)
