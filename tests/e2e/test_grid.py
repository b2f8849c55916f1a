import os
import signal
import subprocess
import sys

import pytest
import yaml
from helpers import HANG, METRICS_PER_ROUND, QUICKSTART, REPO, Gate, al4ml, start, wait_until, write_grid

from al4ml.grid import child_runs, load_grid, parent_run, plan
from al4ml.report import history
from al4ml.runs import CELL_TAG, COHORT_SIZE_TAG, COHORT_TAG, PID_TAG
from al4ml.tracking import get_client


def metric_points(client, run_id):
    return {m: history(client, run_id, m) for m in METRICS_PER_ROUND}


def test_eight_concurrent_cells_lose_no_metric_and_rerun_starts_none(tmp_path):
    path = write_grid(tmp_path, {"query.strategy": ["random", "entropy"], "seed": [0, 1, 2, 3]})
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    proc = al4ml("grid", str(path), "--workers", "8", "--tracking-uri", uri)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()  # piped: a line per cell as it starts and ends, then the table
    assert sum(ln.startswith("cell ") and ln.endswith(": done") for ln in lines) == 8, proc.stdout
    assert lines[-2].strip() == "8 done, 0 running, 0 failed, 0 queued", proc.stdout
    assert lines[-1].startswith("8 cells finished, 0 failed; report: al4ml report"), proc.stdout
    client = get_client(uri)
    exp = client.get_experiment_by_name("tgrid")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("al4ml.role") == "grid"]
    assert len(parents) == 1
    children = child_runs(client, parents[0].info.run_id)
    assert len(children) == 8
    assert {r.info.status for r in children} == {"FINISHED"}
    assert len({r.data.tags[CELL_TAG] for r in children}) == 8
    total = 0
    for r in children:
        for name, (steps, _) in metric_points(client, r.info.run_id).items():
            assert steps.tolist() == [10, 20, 30], name
            total += len(steps)
    assert total == 8 * 3 * len(METRICS_PER_ROUND)
    again = al4ml("grid", str(path), "--workers", "8", "--tracking-uri", uri)
    assert again.returncode == 0 and "0 to run" in again.stdout
    assert "nothing to run; report" in again.stdout and "cohort(s) of" not in again.stdout
    assert "┏" not in again.stdout  # no empty table
    assert len(child_runs(client, parents[0].info.run_id)) == 8

    out = tmp_path / "report"
    rep = al4ml("report", parents[0].info.run_id, "--tracking-uri", uri, "--out", str(out))
    assert rep.returncode == 0, rep.stderr
    assert {"report.md", "report.html", "learning_curves.png", "aulc.csv"} <= {p.name for p in out.iterdir()}
    logged = {a.path for a in client.list_artifacts(parents[0].info.run_id, "report")}
    assert "report/report.md" in logged and "report/learning_curves.png" in logged
    assert any(a.path == "learning_curve.png" for a in client.list_artifacts(children[0].info.run_id))


def test_ray_executor_gives_the_same_cells_and_values_as_local(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'al4ml[ray]')")
    axes = {"query.strategy": ["entropy", "margin"]}
    values = {}
    for executor in ("local", "ray"):
        path = write_grid(tmp_path, axes)
        uri = f"sqlite:///{tmp_path / (executor + '.db')}"
        proc = al4ml("grid", str(path), "--workers", "2", "--executor", executor, "--tracking-uri", uri)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        client = get_client(uri)
        exp = client.get_experiment_by_name("tgrid")
        cells = {}
        for r in client.search_runs([exp.experiment_id], "tags.`al4ml.role` = 'cell'"):
            assert r.info.status == "FINISHED"
            steps, acc = history(client, r.info.run_id, "test_accuracy")
            _, loss = history(client, r.info.run_id, "val_loss")
            cells[r.data.tags[CELL_TAG]] = (steps.tolist(), acc.tolist(), loss.tolist())
        values[executor] = cells
    assert values["local"].keys() == values["ray"].keys() and len(values["local"]) == 2
    for key, (steps, acc, loss) in values["local"].items():
        r_steps, r_acc, r_loss = values["ray"][key]
        assert steps == r_steps
        assert max(abs(a - b) for a, b in zip(acc + loss, r_acc + r_loss, strict=True)) <= 1e-6


def test_killed_worker_fails_only_its_cell_and_rerun_resumes_it(tmp_path):
    gate = Gate(tmp_path / "gate")
    path = write_grid(tmp_path, {"seed": [0, 1, 2]}, **{"training.epochs": 6, "budget.total": 50})
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    args = ("grid", str(path), "--workers", "1", "--cohort-size", "1", "--tracking-uri", uri, *gate.sets)
    gate.hold(2)  # the first cell waits at its second query, one round and its state stored
    driver = start("-q", *args, cwd=tmp_path, env=gate.env)
    client = get_client(uri)
    [pid] = gate.wait_held(2)

    def stored_round():
        exp = client.get_experiment_by_name("tgrid")
        for r in client.search_runs([exp.experiment_id], "tags.`al4ml.role` = 'cell'") if exp else []:
            if (
                r.data.tags.get(PID_TAG) == str(pid)
                and "test_accuracy" in r.data.metrics
                and client.list_artifacts(r.info.run_id, "state")
            ):
                return r
        return None

    victim = wait_until(stored_round, "the held cell's first round and state in the store")
    os.kill(pid, signal.SIGKILL)
    gate.release(2)
    out, err = driver.communicate(timeout=HANG)
    assert driver.returncode == 1, out + err
    assert f"cell {victim.info.run_name} failed: worker exited with code -9" in err, err
    runs = {
        r.info.run_id: r
        for r in client.search_runs(
            [client.get_experiment_by_name("tgrid").experiment_id], "tags.`al4ml.role` = 'cell'"
        )
    }
    assert runs[victim.info.run_id].info.status == "FAILED"
    assert sorted(r.info.status for r in runs.values()) == ["FAILED", "FINISHED", "FINISHED"]

    again = al4ml(*args, env=gate.env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 to run (1 resumed)" in " ".join(again.stdout.split())
    assert "Downloading artifacts" not in again.stderr + again.stdout  # no MLflow progress bars
    runs = client.search_runs(
        [client.get_experiment_by_name("tgrid").experiment_id], "tags.`al4ml.role` = 'cell'"
    )
    assert len(runs) == 3 and {r.info.status for r in runs} == {"FINISHED"}
    steps, _ = history(client, victim.info.run_id, "test_accuracy")
    assert steps.tolist() == [10, 20, 30, 40, 50]


def test_cli_grid_error_is_one_line_with_the_cell(tmp_path):
    path = write_grid(tmp_path, {"query.strategy": ["entropy", "bogus"]})
    proc = al4ml("grid", str(path), "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1
    assert "[query.strategy=bogus]" in lines[0] and "unknown strategy 'bogus'" in lines[0]


def test_grid_cells_are_their_configs_reports_never_merge_versions_and_baselines_stay_off_the_axis(tmp_path):
    import csv

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    path = write_grid(
        tmp_path,
        {"model.options.width": [4, 8], "seed": [0, 1]},
        **{"training.epochs": 1, "budget.total": 20},
    )
    assert al4ml("grid", str(path), "--workers", "2", "--tracking-uri", uri).returncode == 0
    client = get_client(uri)
    exp = client.get_experiment_by_name("tgrid").experiment_id
    [v1] = client.search_runs([exp], "tags.`al4ml.role` = 'grid'")
    children = child_runs(client, v1.info.run_id)
    assert sorted(r.info.run_name for r in children) == [
        "entropy+none+width=4/s0",
        "entropy+none+width=4/s1",
        "entropy+none+width=8/s0",
        "entropy+none+width=8/s1",
    ]
    assert {r.data.tags["axis.model.options.width"] for r in children} == {"4", "8"}
    assert len({r.data.tags["al4ml.setting"] for r in children}) == 2

    out = tmp_path / "v1"
    assert al4ml("report", v1.info.run_id, "--tracking-uri", uri, "--out", str(out)).returncode == 0
    rows = list(csv.DictReader((out / "aulc.csv").open()))
    assert [(r["model.options.width"], r["seeds"]) for r in rows] == [("4", "2"), ("8", "2")]

    # The same grid file with another --set: a second version, never mixed into the first.
    again = al4ml("grid", str(path), "--workers", "2", "--tracking-uri", uri, "--set", "training.epochs=2")
    assert again.returncode == 0, again.stderr
    assert "this is version 2" in " ".join(again.stdout.split())
    assert len(child_runs(client, v1.info.run_id)) == 4
    out = tmp_path / "all"
    assert al4ml("report", "tgrid", "--tracking-uri", uri, "--out", str(out)).returncode == 0
    rows = list(csv.DictReader((out / "aulc.csv").open()))
    assert sorted((r["model.options.width"], r["training.epochs"], r["seeds"]) for r in rows) == [
        ("4", "1", "2"),
        ("4", "2", "2"),
        ("8", "1", "2"),
        ("8", "2", "2"),
    ]

    # Baselines of the grid: named as baselines and by the axes their training depends on (never
    # two of one name), no strategy tag, metrics off the label axis.
    base = al4ml("baseline", str(path), "--tracking-uri", uri, "--no-progress")
    assert base.returncode == 0, base.stderr
    baselines = client.search_runs([exp], "tags.`al4ml.role` = 'baseline'")
    assert sorted(r.info.run_name for r in baselines) == [
        "baseline+none+width=4/s0",
        "baseline+none+width=4/s1",
        "baseline+none+width=8/s0",
        "baseline+none+width=8/s1",
    ]
    assert all("strategy" not in r.data.tags for r in baselines)
    curve_metrics = set(children[0].data.metrics)
    for r in client.search_runs([exp]):
        for name in curve_metrics & set(r.data.metrics):
            steps = [m.step for m in client.get_metric_history(r.info.run_id, name)]
            assert max(steps) <= 20, (r.info.run_name, name, steps)
    assert (
        al4ml("baseline", str(path), "--tracking-uri", uri, "--no-progress").stdout.count("already finished")
        == 1
    )
    assert al4ml("report", v1.info.run_id, "--tracking-uri", uri, "--out", str(out)).returncode == 0
    rows = list(csv.DictReader((out / "aulc.csv").open()))
    assert all(r["ceiling"] for r in rows)


def cell_runs(client, name: str = "tgrid") -> dict:
    exp = client.get_experiment_by_name(name).experiment_id
    return {r.info.run_name: r for r in client.search_runs([exp], "tags.`al4ml.role` = 'cell'")}


def test_a_cohort_grid_logs_what_a_process_grid_logs_value_for_value(tmp_path):
    # On CPU a cohort's models run apart: a cell's numbers do not depend on its cohort.
    path = write_grid(
        tmp_path, {"query.strategy": ["random", "entropy"], "augmentation.name": ["none", "trivialaugment"]}
    )
    logged, cohorts = {}, {}
    for how in ("1", "auto"):
        uri = f"sqlite:///{tmp_path / (how + '.db')}"
        proc = al4ml("grid", str(path), "--cohort-size", how, "--workers", "2", "--tracking-uri", uri)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        text = " ".join(proc.stdout.split())
        assert ("in 4 cohort(s)" if how == "1" else "in 2 cohort(s) of 2, 2") in text
        client = get_client(uri)
        runs = cell_runs(client)
        logged[how] = {
            name: (
                r.info.status,
                {
                    k: v
                    for k, v in r.data.tags.items()
                    if k not in (PID_TAG, COHORT_TAG, COHORT_SIZE_TAG, "mlflow.parentRunId")
                },
                r.data.params,
                {
                    m: [
                        (p.step, p.value)
                        for p in sorted(client.get_metric_history(r.info.run_id, m), key=lambda p: p.step)
                    ]
                    for m in r.data.metrics
                    if m not in ("train_seconds", "query_seconds")
                },
                sorted(a.path for a in client.list_artifacts(r.info.run_id)),
            )
            for name, r in runs.items()
        }
        cohorts[how] = {
            name: (r.data.tags[COHORT_SIZE_TAG], r.data.tags[COHORT_TAG]) for name, r in runs.items()
        }
    assert len(logged["1"]) == 4 and logged["1"].keys() == logged["auto"].keys()
    for name, (status, tags, params, points, artifacts) in logged["auto"].items():
        assert status == "FINISHED"
        assert (status, tags, params, points, artifacts) == logged["1"][name], name
        assert all([s for s, _ in p] == [10, 20, 30] for p in points.values())
        assert cohorts["1"][name] == ("1", name)
        size, members = cohorts["auto"][name]
        assert size == "2" and name in members.split(", ") and len(members.split(", ")) == 2


def test_a_killed_cohort_resumes_every_cell_from_its_last_round(tmp_path):
    gate = Gate(tmp_path / "gate")
    path = write_grid(tmp_path, {"seed": [0, 1, 2, 3]}, **{"training.epochs": 6, "budget.total": 60})
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    args = ("grid", str(path), "--workers", "1", "--tracking-uri", uri, *gate.sets)
    alone = f"sqlite:///{tmp_path / 'alone.db'}"  # the same cells, each alone, uninterrupted
    reference = al4ml(
        "grid",
        str(path),
        "--workers",
        "1",
        "--cohort-size",
        "1",
        "--tracking-uri",
        alone,
        *gate.sets,
        env=gate.env,
    )
    assert reference.returncode == 0, reference.stdout + reference.stderr
    gate.hold(9)  # the cohort of 4 waits at round 2's first query, two rounds of each cell stored
    driver = start(*args, cwd=tmp_path, env=gate.env)
    client = get_client(uri)
    [pid] = gate.wait_held(9)

    def two_rounds() -> dict:
        runs = cell_runs(client) if client.get_experiment_by_name("tgrid") else {}
        done = len(runs) == 4 and all(
            len(history(client, r.info.run_id, "test_accuracy")[0]) >= 2 for r in runs.values()
        )
        return runs if done else {}

    runs = wait_until(two_rounds, "two rounds of each of the cohort's 4 cells in the store")
    assert len({r.data.tags[PID_TAG] for r in runs.values()}) == 1  # one process for all four
    assert next(iter(runs.values())).data.tags[PID_TAG] == str(pid)
    os.kill(pid, signal.SIGKILL)
    gate.release(9)
    out, err = driver.communicate(timeout=HANG)
    assert driver.returncode == 1, out + err
    assert {r.info.status for r in cell_runs(client).values()} == {"FAILED"}
    again = al4ml(*args, env=gate.env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4 to run (4 resumed)" in " ".join(again.stdout.split())
    finished = cell_runs(client)
    assert {r.info.run_id for r in finished.values()} == {r.info.run_id for r in runs.values()}
    for r in finished.values():
        assert r.info.status == "FINISHED"
        for name in METRICS_PER_ROUND:
            assert history(client, r.info.run_id, name)[0].tolist() == [10, 20, 30, 40, 50, 60]
        points = client.get_metric_history(r.info.run_id, "test_accuracy")
        assert len(points) == len({p.step for p in points}), "a round was logged twice"
        assert r.data.tags[COHORT_SIZE_TAG] == "4"
    # Killed and resumed in a cohort of 4, each cell logged what it logs alone, value for value.
    ref_client = get_client(alone)
    lone = cell_runs(ref_client)
    assert lone.keys() == finished.keys()
    for name, r in finished.items():
        for metric in ("test_accuracy", "test_auc", "val_loss", "train_loss"):
            ours = sorted((p.step, p.value) for p in client.get_metric_history(r.info.run_id, metric))
            theirs = sorted(
                (p.step, p.value) for p in ref_client.get_metric_history(lone[name].info.run_id, metric)
            )
            assert ours == theirs, (name, metric)


def test_a_rerun_never_starts_a_second_writer_on_a_cell_a_live_process_writes(tmp_path):
    import socket

    from al4ml.runs import HOST_TAG

    grid = load_grid(write_grid(tmp_path, {"seed": [0, 1]}))
    client = get_client(f"sqlite:///{tmp_path / 'm.db'}")
    parent = parent_run(client, grid).run_id
    exp = client.get_run(parent).info.experiment_id
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for cell, pid in zip(grid.cells, (os.getpid(), dead.pid), strict=True):
        client.create_run(
            exp,
            tags={
                "mlflow.parentRunId": parent,
                CELL_TAG: cell.key,
                PID_TAG: str(pid),
                HOST_TAG: socket.gethostname(),
            },
        )
    live, stale = plan(client, parent, grid)
    assert live.action == "busy" and f"pid {os.getpid()}" in live.error
    assert stale.action == "resume"  # its writer is gone: continued in place


def test_four_workers_log_a_grid_through_an_mlflow_server_on_postgresql_once(tmp_path, postgres_mlflow):
    """The topology of docker/compose.yaml on real parts: PostgreSQL, ``mlflow server``, a grid."""
    uri = postgres_mlflow.uri
    path = write_grid(tmp_path, {"query.strategy": ["random", "entropy"], "seed": [0, 1]})
    proc = al4ml("-q", "grid", str(path), "--workers", "4", "--tracking-uri", uri)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 cohort(s)" in proc.stdout
    client = get_client(uri)
    exp = client.get_experiment_by_name("tgrid")
    [parent] = client.search_runs([exp.experiment_id], "tags.`al4ml.role` = 'grid'")
    children = child_runs(client, parent.info.run_id)
    assert len(children) == 4 and {r.info.status for r in children} == {"FINISHED"}
    points = 0
    for r in children:
        assert set(METRICS_PER_ROUND) <= r.data.metrics.keys()
        for name in r.data.metrics:
            steps = [m.step for m in client.get_metric_history(r.info.run_id, name)]
            assert sorted(steps) == [10, 20, 30], (r.info.run_name, name, steps)
            points += len(steps)
        assert any(a.path == "config.yaml" for a in client.list_artifacts(r.info.run_id))
    assert points == 3 * sum(len(r.data.metrics) for r in children)


def test_a_cohort_whose_store_stopped_answering_says_so_in_one_line(tmp_path):
    # A worker that starts while the tracking server is away: one line and exit 2 (the grid
    # reports its cells), not a traceback.
    from helpers import free_port

    code = (
        "import os\nfrom al4ml.config import load_config\n"
        "from al4ml.grid import GridCell, CellStatus, _cohort_process, _payload\n"
        f"cfg = load_config({str(QUICKSTART)!r}, ['budget.total=20', 'training.epochs=1'])\n"
        "cohort = [CellStatus(GridCell({'seed': 0}, cfg), 'new')]\n"
        f"_cohort_process((_payload(cohort), 'http://127.0.0.1:{free_port()}', 'p', 1), os.getppid())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "a cohort could not run" in lines[0] and "does not answer" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_the_twelve_medmnist_sets_grid_runs_on_cpu_on_medmnist_shaped_files(tmp_path):
    """experiments/grid_medmnist12_augment.yaml, CPU-sized: its 12 flags and 4 augmentations
    (one seed) on small files in the official layout, each with its flag's channels, classes
    and label kind (ChestMNIST's 14 findings), read by medmnist's own classes."""
    from helpers import write_medmnist_npz, write_multilabel_npz
    from medmnist import INFO

    from al4ml.tracking import get_client

    real = yaml.safe_load((REPO / "experiments" / "grid_medmnist12_augment.yaml").read_text())
    flags = real["axes"]["dataset.options.flag"]
    assert len(flags) == 12 and len(real["axes"]["augmentation"]) == 4
    data = tmp_path / "data"
    data.mkdir()
    for i, flag in enumerate(flags):
        info = INFO[flag]
        if info["task"].startswith("multi-label"):
            write_multilabel_npz(data / f"{flag}.npz", n=(40, 16, 16), findings=len(info["label"]))
        else:
            write_medmnist_npz(
                data / f"{flag}.npz",
                n=(40, 16, 16),
                channels=info["n_channels"],
                classes=len(info["label"]),
                seed=i,
            )
    base = yaml.safe_load((REPO / "experiments" / "breastmnist.yaml").read_text())
    base["dataset"]["root"] = str(data)
    base["model"] = {"name": "tiny_cnn", "options": {"width": 4}}
    base["training"].update(epochs=1, batch_size=16)
    base["budget"] = {"initial": 6, "per_round": 6, "total": 12}
    base["device"] = "cpu"
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    grid = {**real, "base": "base.yaml", "axes": {**real["axes"], "seed": [0]}}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid, sort_keys=False))
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    proc = al4ml("-q", "grid", str(tmp_path / "grid.yaml"), "--workers", "2", "--tracking-uri", uri)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = get_client(uri)
    runs = [
        r
        for r in client.search_runs([client.get_experiment_by_name("grid_medmnist12_augment").experiment_id])
        if r.data.tags.get("al4ml.role") == "cell"
    ]
    assert len(runs) == 48 and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["dataset"] for r in runs} == set(flags)
    assert {r.data.metrics["n_labeled"] for r in runs} == {12}
