"""Faults a user meets on shared machines: bad input, concurrent starts, kills, lost servers.

Everything here runs the real CLI in subprocesses against real MLflow stores.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import (
    HANG,
    QUICKSTART,
    REPO,
    Gate,
    MlflowServer,
    al4ml,
    al4ml_imports,
    free_port,
    histories,
    kill_at,
    pid_alive,
    start,
    tiny_digits,
    wait_until,
    write_medmnist_npz,
)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def tiny_medmnist(tmp_path: Path, **kw) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    write_medmnist_npz(folder / "breastmnist.npz", **kw)
    return folder


def medmnist_run(root: Path, *more: str) -> list[str]:
    sets = [
        f"dataset.root={root}",
        "model.name=tiny_cnn",
        "model.options.width=4",
        "training.epochs=1",
        "budget.initial=10",
        "budget.per_round=10",
        "budget.total=20",
        *more,
    ]
    return [str(REPO / "experiments" / "breastmnist.yaml"), *[a for s in sets for a in ("--set", s)]]


def bad_truncated_npz(tmp_path: Path) -> tuple[list[str], list[str]]:
    root = tiny_medmnist(tmp_path)
    data = (root / "breastmnist.npz").read_bytes()
    (root / "breastmnist.npz").write_bytes(data[: len(data) // 3])
    return ["run", *medmnist_run(root)], ["breastmnist.npz", "not a readable MedMNIST .npz file"]


def bad_labels_out_of_range(tmp_path: Path) -> tuple[list[str], list[str]]:
    root = tiny_medmnist(tmp_path, classes=3)  # BreastMNIST has two classes
    return ["run", *medmnist_run(root)], ["pool label 2 is outside [0, 2)"]


def bad_empty_class_folder(tmp_path: Path) -> tuple[list[str], list[str]]:
    from PIL import Image

    for split in ("train", "val", "test"):
        for name in ("benign", "malignant"):
            folder = tmp_path / "tree" / split / name
            folder.mkdir(parents=True)
            if not (split == "train" and name == "malignant"):
                Image.fromarray(np.full((8, 8), 100, np.uint8)).save(folder / "a.png")
    return (
        [
            "run",
            str(QUICKSTART),
            "--set",
            "dataset.name=imagefolder",
            "--set",
            f"dataset.root={tmp_path / 'tree'}",
        ],
        [str(tmp_path / "tree" / "train" / "malignant"), "holds no images"],
    )


def bad_file(name: str, text: str, command: str, *fragments: str):
    """A case whose input is a file ``name`` holding ``text``; ``{path}`` in a fragment is its path."""

    def case(tmp_path: Path) -> tuple[list[str], list[str]]:
        path = tmp_path / name
        path.write_text(text)
        return [command, str(path)], [f.format(path=path) for f in fragments]

    return case


def bad_uri(uri: str, *fragments: str):
    def case(tmp_path: Path) -> tuple[list[str], list[str]]:
        return (
            ["run", str(QUICKSTART), "--tracking-uri", uri.format(tmp=tmp_path)],
            [f.format(tmp=tmp_path) for f in fragments],
        )

    return case


def bad_uri_under_a_file(tmp_path: Path) -> tuple[list[str], list[str]]:
    (tmp_path / "plain.txt").write_text("not a folder")
    return bad_uri("sqlite:///{tmp}/plain.txt/m.db", "{tmp}/plain.txt is a file")(tmp_path)


def bad_server_not_running(tmp_path: Path) -> tuple[list[str], list[str]]:
    return bad_uri(f"http://127.0.0.1:{free_port()}", "does not answer", "start it")(tmp_path)


def bad_negative_seed(tmp_path: Path) -> tuple[list[str], list[str]]:
    return ["run", str(QUICKSTART), "--set", "seed=-1"], ["seed", "(got -1)", "≥ 0"]


def bad_one_class_folder(tmp_path: Path) -> tuple[list[str], list[str]]:
    from PIL import Image

    for split in ("train", "val", "test"):
        folder = tmp_path / "tree" / split / "benign"
        folder.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    return (
        [
            "run",
            str(QUICKSTART),
            "--set",
            "dataset.name=imagefolder",
            "--set",
            f"dataset.root={tmp_path / 'tree'}",
        ],
        ["holds one class only (benign)", "at least two"],
    )


BAD_INPUTS = {
    "truncated npz": (bad_truncated_npz, False),
    "negative seed": (bad_negative_seed, True),
    "duplicated YAML key": (
        bad_file(
            "twice.yaml",
            "name: twice\ntraining:\n  epochs: 3\n  lr: 0.01\n  epochs: 4\n",
            "run",
            "{path}:5:3",
            "'epochs' is given twice (lines 3 and 5)",
        ),
        True,
    ),
    "repeated axis value": (
        bad_file(
            "grid.yaml",
            yaml.safe_dump({"name": "g", "base": str(QUICKSTART), "axes": {"seed": [0, 1, 0]}}),
            "grid",
            "axis 'seed' lists 0 twice",
        ),
        True,
    ),
    "one class in an image folder": (bad_one_class_folder, False),
    "missing store folder": (
        bad_uri("sqlite:///{tmp}/nodir/sub/x.db", "{tmp}/nodir/sub does not exist", "--create-store"),
        True,
    ),
    "labels out of range": (bad_labels_out_of_range, False),
    "empty class folder": (bad_empty_class_folder, False),
    "YAML syntax error": (
        bad_file(
            "broken.yaml",
            "name: broken\ntraining:\n  epochs: [3, 4\nbudget: {}\n",
            "run",
            "{path}:4:7",
            "not valid YAML",
        ),
        True,
    ),
    "grid with axes: {}": (
        bad_file(
            "grid.yaml",
            yaml.safe_dump({"name": "g", "base": str(QUICKSTART), "axes": {}}),
            "grid",
            "axes: no axis given",
        ),
        True,
    ),
    "unknown URI scheme": (bad_uri("foo://bar", "unsupported scheme 'foo'"), True),
    "store under a regular file": (bad_uri_under_a_file, True),
    "read-only store folder": (bad_uri("sqlite:////proc/m.db", "cannot write in /proc"), True),
    "server not running": (bad_server_not_running, True),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_leaves_no_run(name, tmp_path):
    make, config_only = BAD_INPUTS[name]
    args, fragments = make(tmp_path)
    store = tmp_path / "m.db"
    if "--tracking-uri" not in args:
        args += ["--tracking-uri", f"sqlite:///{store}"]
    before = sorted(tmp_path.rglob("*"))
    proc, imported = al4ml_imports(*args, cwd=tmp_path)
    line = one_line_error(proc)
    for fragment in fragments:
        assert fragment in line, line
    if config_only:  # refused before torch or MLflow load (seconds on 2 cores)
        assert imported == [], f"{name}: imported {imported} before refusing"
    assert not store.exists(), "a store (and so possibly a run) was created"
    assert sorted(tmp_path.rglob("*")) == before, "the refused command created files"


def store_with_runs(tmp_path: Path) -> tuple[str, Path, str]:
    """A real store holding a grid's parent run: its URI, file and the parent's id."""
    from al4ml.runs import GRID_TAG, ROLE_TAG
    from al4ml.tracking import experiment_id, get_client

    db = tmp_path / "m.db"
    client = get_client(f"sqlite:///{db}")
    parent = client.create_run(experiment_id(client, "g"), tags={ROLE_TAG: "grid", GRID_TAG: "g"})
    return f"sqlite:///{db}", db, parent.info.run_id


def fault_not_a_database(tmp_path: Path) -> tuple[list[str], list[str]]:
    (tmp_path / "m.db").write_text("these are notes, not a store\n")
    return (
        ["run", str(QUICKSTART), "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"],
        [str(tmp_path / "m.db"), "is not an SQLite database"],
    )


def fault_cut_store(tmp_path: Path) -> tuple[list[str], list[str]]:
    uri, db, _ = store_with_runs(tmp_path)
    db.write_bytes(db.read_bytes()[:8192])
    return ["run", str(QUICKSTART), "--tracking-uri", uri], [str(db), "is damaged", "malformed"]


def fault_report_into_a_file(tmp_path: Path) -> tuple[list[str], list[str]]:
    uri, _, _ = store_with_runs(tmp_path)
    (tmp_path / "report.txt").write_text("an earlier report\n")
    return (
        ["report", "g", "--tracking-uri", uri, "--out", str(tmp_path / "report.txt")],
        ["--out", "report.txt", "is a file"],
    )


def fault_resume_a_grid_parent(tmp_path: Path) -> tuple[list[str], list[str]]:
    uri, _, parent = store_with_runs(tmp_path)
    return ["resume", parent, "--tracking-uri", uri], [parent, "parent run of grid 'g'", "al4ml grid"]


def fault_unreadable_journal(tmp_path: Path) -> tuple[list[str], list[str]]:
    journal = tmp_path / ".al4ml" / "journal" / "abc"
    journal.mkdir(parents=True)
    (journal / "meta.json").write_text("{not json")
    return ["sync", str(journal)], [str(journal), "meta.json is not readable"]


STORE_FAULTS = {
    "store file is not a database": fault_not_a_database,
    "store cut to 8 KiB": fault_cut_store,
    "report --out a file": fault_report_into_a_file,
    "resume of a grid parent": fault_resume_a_grid_parent,
    "journal that is not JSON": fault_unreadable_journal,
}


@pytest.mark.parametrize("name", STORE_FAULTS)
def test_a_damaged_store_or_misused_command_is_one_line_and_changes_nothing(name, tmp_path):
    args, fragments = STORE_FAULTS[name](tmp_path)
    before = {p: p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")}
    proc = al4ml(*args, cwd=tmp_path)
    line = one_line_error(proc)
    for fragment in fragments:
        assert fragment in line, line
    assert {p: p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")} == before


def test_a_store_locked_from_the_start_is_one_line_after_the_wait_it_names(tmp_path):
    import sqlite3

    uri, db, _ = store_with_runs(tmp_path)
    lock = sqlite3.connect(db, timeout=0)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        proc = al4ml(
            "run", str(QUICKSTART), "--tracking-uri", uri, cwd=tmp_path, env={"AL4ML_STORE_BUSY_SECONDS": "1"}
        )
    finally:
        lock.rollback()
        lock.close()
    line = one_line_error(proc)
    assert str(db) in line and "locked by another process (waited 1 s)" in line, line


def test_a_budget_above_the_pool_says_so_in_one_line_and_logs_the_clamped_value(tmp_path):
    from al4ml.tracking import get_client

    root = tiny_medmnist(tmp_path, n=(30, 10, 12))
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    proc = al4ml(
        "run", *medmnist_run(root, "budget.total=100"), "--tracking-uri", uri, "--no-progress", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "budget.total=100" in warnings[0] and "30 labels" in warnings[0]
    client = get_client(uri)
    [run] = client.search_runs([client.get_experiment_by_name("breastmnist").experiment_id])
    assert run.data.tags["al4ml.budget_effective"] == "30"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "n_labeled")] == [10, 20, 30]


def test_eight_runs_started_together_on_a_new_store_all_finish(tmp_path):
    from al4ml.tracking import get_client

    config = tiny_digits(tmp_path)
    uri = f"sqlite:///{tmp_path / 'new' / 'store.db'}"
    procs = [
        start(
            "run",
            str(config),
            "--set",
            f"seed={s}",
            "--tracking-uri",
            uri,
            "--create-store",
            "--no-progress",
            cwd=tmp_path,
        )
        for s in range(8)
    ]
    outputs = [p.communicate(timeout=HANG) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    client = get_client(uri)
    [exp] = [e for e in client.search_experiments() if e.name == "race"]
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 8 and {r.info.status for r in runs} == {"FINISHED"}
    for r in runs:
        for name in ("test_accuracy", "n_labeled", "train_loss"):
            assert [m.step for m in client.get_metric_history(r.info.run_id, name)] == [10, 20]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, str]:
    """The config every kill point runs, and a store holding its uninterrupted run."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    config = tiny_digits(folder, "killed")
    tree = yaml.safe_load(config.read_text())
    tree["training"].update(epochs=3, min_steps=20)
    tree["budget"].update(total=40)
    config.write_text(yaml.safe_dump(tree))
    reference = f"sqlite:///{folder / 'ref.db'}"
    assert al4ml("run", str(config), "--tracking-uri", reference, "--no-progress").returncode == 0
    return config, reference


@pytest.mark.parametrize("point", ["first_round", "mid_run", "scoring", "before_finished"])
def test_a_run_killed_anywhere_resumes_to_the_uninterrupted_result(point, uninterrupted, tmp_path):
    from al4ml.tracking import QUERIES_ARTIFACT, get_client

    config, reference = uninterrupted
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    kill_at(tmp_path, config, uri, point)
    client = get_client(uri)
    [run] = client.search_runs([client.get_experiment_by_name("killed").experiment_id])
    assert run.info.status == "RUNNING"
    resumed = al4ml("run", str(config), "--resume", run.info.run_id, "--tracking-uri", uri, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    ref_client = get_client(reference)
    [ref] = ref_client.search_runs([ref_client.get_experiment_by_name("killed").experiment_id])
    ours, theirs = histories(client, run.info.run_id), histories(ref_client, ref.info.run_id)
    assert ours == theirs  # same values at the same steps, each step once
    assert all(s == [10, 20, 30, 40] for s in ([st for st, _ in h] for h in ours.values()))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    queries = [
        Path(c.download_artifacts(r, QUERIES_ARTIFACT, str(tmp_path / d))).read_text()
        for c, r, d in ((client, run.info.run_id, "a"), (ref_client, ref.info.run_id, "b"))
    ]
    assert queries[0] == queries[1]
    assert "model" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_a_store_locked_for_30_s_mid_run_loses_no_round(tmp_path):
    """Another process holds an exclusive lock on the store (a sqlite3 shell in a transaction,
    a backup) for longer than MLflow's 20 s busy timeout, right after the first round."""
    import sqlite3
    import threading

    from al4ml.tracking import get_client

    gate = Gate(tmp_path / "gate")
    config = tiny_digits(tmp_path, "locked", total=40)
    reference = f"sqlite:///{tmp_path / 'ref.db'}"
    assert (
        al4ml(
            "run", str(config), "--tracking-uri", reference, "--no-progress", *gate.sets, env=gate.env
        ).returncode
        == 0
    )
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    gate.hold(2)
    proc = start("-q", "run", str(config), "--tracking-uri", uri, *gate.sets, cwd=tmp_path, env=gate.env)
    client = get_client(uri)
    gate.wait_held(2)
    run = wait_until(lambda: rounds_in_store(client, "locked", 1), "the first round in the store")
    lock = sqlite3.connect(tmp_path / "m.db", timeout=HANG, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    threading.Timer(30.0, lock.rollback).start()
    gate.release(2)
    _, err = proc.communicate(timeout=HANG)
    if proc.returncode != 0:  # not closed: it says how to continue, and continuing completes it
        assert client.get_run(run.info.run_id).info.status != "FINISHED"
        line = one_line_error_with_code(proc.returncode, err, 1)
        assert f"al4ml resume {run.info.run_id} --tracking-uri {uri}" in line, line
        resumed = al4ml(
            "resume", run.info.run_id, "--tracking-uri", uri, "--no-progress", cwd=tmp_path, env=gate.env
        )
        assert resumed.returncode == 0, resumed.stderr[-2000:]
    ref_client = get_client(reference)
    [ref] = ref_client.search_runs([ref_client.get_experiment_by_name("locked").experiment_id])
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    ours = {k: sorted(v) for k, v in histories(client, run.info.run_id).items()}
    assert ours == histories(ref_client, ref.info.run_id)  # every step, each once, same values


def one_line_error_with_code(code: int, err: str, expected: int) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == expected and len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def test_a_run_that_fails_says_how_to_continue_in_one_line_and_continuing_completes_it(tmp_path):
    from al4ml.tracking import get_client

    gate = Gate(tmp_path / "gate")
    config = tiny_digits(tmp_path, "fails", total=40)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    gate.fail(2)
    proc = al4ml(
        "-q",
        "run",
        str(config),
        "--tracking-uri",
        uri,
        "--no-progress",
        *gate.sets,
        cwd=tmp_path,
        env=gate.env,
    )
    client = get_client(uri)
    [run] = client.search_runs([client.get_experiment_by_name("fails").experiment_id])
    line = one_line_error_with_code(proc.returncode, proc.stderr, 1)
    assert "planted failure at query 2" in line, line
    assert f"al4ml resume {run.info.run_id} --tracking-uri {uri}" in line, line
    assert run.info.status == "FAILED"
    gate.heal(2)
    resumed = al4ml(
        "resume", run.info.run_id, "--tracking-uri", uri, "--no-progress", cwd=tmp_path, env=gate.env
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_complete(client, run.info.run_id, [10, 20, 30, 40])


def test_killing_a_grid_kills_its_workers_and_a_rerun_converges(tmp_path):
    from al4ml.tracking import get_client

    gate = Gate(tmp_path / "gate")
    base = tiny_digits(tmp_path, "owned")
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"name": "owned", "base": str(base), "axes": {"seed": [0, 1]}}))
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    args = ("grid", str(grid), "--workers", "2", "--cohort-size", "1", "--tracking-uri", uri, *gate.sets)
    gate.hold(1)  # both workers stop at their first query, mid-run, until the grid is killed
    driver = start(*args, cwd=tmp_path, env=gate.env)
    pids = gate.wait_held(1, count=2)
    os.kill(driver.pid, 9)
    driver.wait(timeout=HANG)
    wait_until(
        lambda: not any(pid_alive(p) for p in pids),
        "the workers' end after their grid's",
        every=0.1,
    )
    gate.release(1)
    again = al4ml(*args, cwd=tmp_path, env=gate.env)
    assert again.returncode == 0, again.stdout + again.stderr
    client = get_client(uri)
    runs = client.search_runs(
        [client.get_experiment_by_name("owned").experiment_id], "tags.`al4ml.role` = 'cell'"
    )
    assert sorted(r.info.run_name for r in runs) == ["gated+none/s0", "gated+none/s1"]
    assert {r.info.status for r in runs} == {"FINISHED"}


@pytest.fixture
def server(tmp_path):
    srv = MlflowServer(tmp_path)
    srv.start()
    yield srv
    srv.stop()


def long_digits(tmp_path: Path, name: str) -> Path:
    """Eleven rounds (10 to 110 labels): a server can go away and come back between them."""
    return tiny_digits(tmp_path, name, total=110)


def rounds_in_store(client, name: str, rounds: int, where: str = ""):
    """The first run of experiment ``name`` (matching ``where``) with ``rounds`` rounds stored."""
    exp = client.get_experiment_by_name(name)
    for run in client.search_runs([exp.experiment_id], where) if exp else []:
        if len(client.get_metric_history(run.info.run_id, "n_labeled")) >= rounds:
            return run
    return None


def assert_complete(client, run_id: str, steps: list[int]) -> None:
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    for name in ("test_accuracy", "n_labeled", "train_loss", "query_seconds"):
        assert [m.step for m in client.get_metric_history(run_id, name)] == steps, name
    paths = {a.path for a in client.list_artifacts(run_id)}
    assert {"queries.csv", "state", "model", "learning_curve.png"} <= paths


def lose_server_mid_run(
    server: MlflowServer, tmp_path: Path, name: str, gate: Gate, rounds: int
) -> tuple[subprocess.Popen, object, object]:
    """Start a run against ``server``; stop the server once ``rounds`` rounds are stored.

    The run waits at its next query (``gate``) until the server is down, so the outage
    begins exactly between round ``rounds`` and the next, on any machine.
    """
    from mlflow.tracking import MlflowClient

    config = long_digits(tmp_path, name)
    gate.hold(rounds + 1)
    run_proc = start(
        "run",
        str(config),
        "--tracking-uri",
        server.uri,
        "--no-progress",
        *gate.sets,
        cwd=tmp_path,
        env=gate.env,
    )
    client = MlflowClient(tracking_uri=server.uri)
    gate.wait_held(rounds + 1)
    run = wait_until(lambda: rounds_in_store(client, name, rounds), f"{name}: {rounds} round(s) stored")
    server.stop()
    gate.release(rounds + 1)
    return run_proc, client, run


def test_a_run_outlives_a_60_s_server_outage_and_sends_every_point_once(server, tmp_path):
    gate = Gate(tmp_path / "gate")
    gate.hold(4)  # the run waits there, its rounds 2 and 3 in the journal, until the server is back
    outage = time.monotonic()
    run_proc, client, run = lose_server_mid_run(server, tmp_path, "outage", gate, rounds=1)
    gate.wait_held(4)
    journal = tmp_path / ".al4ml" / "journal" / run.info.run_id / "ops.jsonl"
    wait_until(journal.is_file, "the journal of the writes the outage kept from the server")
    with pytest.raises(subprocess.TimeoutExpired):  # a 60 s outage; the run must not end in it
        run_proc.wait(timeout=max(0.0, 60 - (time.monotonic() - outage)))
    server.start()
    gate.release(4)
    _, err = run_proc.communicate(timeout=HANG)
    assert run_proc.returncode == 0, err[-3000:]
    status = [ln for ln in err.splitlines() if ln.startswith("al4ml: tracking store")]
    assert len(status) == 2 and "unreachable" in status[0] and "answers again" in status[1], err
    assert_complete(client, run.info.run_id, list(range(10, 111, 10)))
    assert not (tmp_path / ".al4ml" / "journal" / run.info.run_id).exists()


def test_a_server_that_never_returns_leaves_a_journal_that_sync_sends_once(server, tmp_path):
    run_proc, client, run = lose_server_mid_run(server, tmp_path, "lost", Gate(tmp_path / "gate"), rounds=2)
    _, err = run_proc.communicate(timeout=HANG)
    assert run_proc.returncode == 3, err[-3000:]  # ended, but its writes wait in the journal
    journal = tmp_path / ".al4ml" / "journal" / run.info.run_id
    hint = [ln for ln in err.splitlines() if "al4ml sync" in ln]
    assert len(hint) == 1 and str(journal) in hint[0], err
    assert (journal / "ops.jsonl").is_file()
    server.start()
    synced = al4ml("sync", str(tmp_path / ".al4ml" / "journal"), cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert_complete(client, run.info.run_id, list(range(10, 111, 10)))
    assert not journal.exists()
    again = al4ml("sync", str(tmp_path / ".al4ml" / "journal"), cwd=tmp_path)
    assert again.returncode == 2 and "no run journal" in again.stderr


def test_a_grid_outlives_a_server_that_goes_away_and_a_sync_and_rerun_complete_it(server, tmp_path):
    # Two cells in two worker processes; the server goes away after both cells' first
    # round. The short cell ends during the outage: the grid must neither stop nor kill the
    # long cell's worker, and every cell must say why its outcome is unknown.
    from mlflow.tracking import MlflowClient

    gate = Gate(tmp_path / "gate")
    base = long_digits(tmp_path, "outage_grid")
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        yaml.safe_dump({"name": "outage_grid", "base": str(base), "axes": {"budget.total": [40, 110]}})
    )
    gate.hold(2)  # each worker waits at its second query until the server is down
    proc = start(
        "-q",
        "grid",
        str(grid),
        "--cohort-size",
        "1",
        "--workers",
        "2",
        "--tracking-uri",
        server.uri,
        *gate.sets,
        cwd=tmp_path,
        env=gate.env,
    )
    client = MlflowClient(tracking_uri=server.uri)
    gate.wait_held(2, count=2)
    long_cell = wait_until(
        lambda: rounds_in_store(client, "outage_grid", 1, "tags.`axis.budget.total` = '110'"),
        "the long cell's first round in the store",
    )
    wait_until(
        lambda: rounds_in_store(client, "outage_grid", 1, "tags.`axis.budget.total` = '40'"),
        "the short cell's first round in the store",
    )
    server.stop()
    gate.release(2)
    _, err = proc.communicate(timeout=HANG)
    assert "Traceback" not in err, err[-3000:]
    assert proc.returncode == 3, err[-3000:]  # no cell failed; what they sent waits in journals
    failed = [ln for ln in err.splitlines() if ln.startswith("cell ")]
    assert len(failed) == 2 and all("outcome unknown" in ln and "al4ml sync" in ln for ln in failed), err
    assert any("did not answer at the end" in ln for ln in err.splitlines()), err
    journals = tmp_path / ".al4ml" / "journal"
    assert (journals / long_cell.info.run_id / "ops.jsonl").is_file()  # its worker ran to the end

    server.start()
    assert al4ml("sync", str(journals), cwd=tmp_path).returncode == 0
    assert_complete(client, long_cell.info.run_id, list(range(10, 111, 10)))
    again = start(
        "-q", "grid", str(grid), "--tracking-uri", server.uri, *gate.sets, cwd=tmp_path, env=gate.env
    )
    out, err = again.communicate(timeout=HANG)
    assert again.returncode == 0, err
    assert "2 already done, 0 to run" in " ".join(out.split())
