from al4ml.tracking import experiment_id, get_client


def test_writes_wait_out_a_locked_sqlite_store(tmp_path):
    """MLflow's own sqlite busy timeout is 20 s; a lock held longer fails a plain client."""
    import sqlite3
    import threading

    from mlflow.entities import Metric

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = get_client(uri)
    run = client.create_run(experiment_id(client, "locked"))
    lock = sqlite3.connect(tmp_path / "m.db", timeout=0, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    releasing = threading.Event()

    def release() -> None:
        releasing.set()  # before the lock goes: the write cannot have got through earlier
        lock.rollback()

    threading.Timer(23.0, release).start()  # longer than MLflow's own 20 s
    client.log_batch(run.info.run_id, metrics=[Metric("x", 1.0, 0, 5)])
    assert releasing.is_set(), "the write got through a held exclusive lock"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "x")] == [5]


def test_runs_that_log_the_same_inputs_at_once_on_postgresql_all_succeed(postgres_mlflow):
    """MLflow adds a dataset by looking, then inserting: on PostgreSQL the writers that lose
    the race get a unique-key violation (about half of 8 concurrent ones, unretried)."""
    import threading

    from mlflow.entities import Dataset, DatasetInput

    client = get_client(postgres_mlflow.uri)
    inputs = [
        DatasetInput(Dataset(name=n, digest=f"d-{n}", source_type="local", source="/x"))
        for n in ("pool", "val", "test")
    ]
    errors: list[Exception] = []

    def log(run_id: str, start: threading.Barrier) -> None:
        start.wait()
        try:
            client.log_inputs(run_id, inputs)
        except Exception as e:  # collected: the assertion shows them
            errors.append(e)

    for trial in range(3):
        exp = experiment_id(client, f"race{trial}")
        runs = [client.create_run(exp).info.run_id for _ in range(8)]
        start = threading.Barrier(len(runs))
        threads = [threading.Thread(target=log, args=(r, start)) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, str(errors[0])[:300]
        for r in runs:
            logged = client.get_run(r).inputs.dataset_inputs
            assert sorted(d.dataset.name for d in logged) == ["pool", "test", "val"]


def test_reading_the_store_imports_no_torch(tmp_path):
    # al4ml report, ui and sync only read and write the store: torch and matplotlib's
    # figures load where a run trains or a report draws. (A grid's parent process still
    # loads torch when it plans cohorts.)
    import subprocess
    import sys

    code = (
        "import sys\nfrom al4ml.tracking import get_client, experiment_id, run_config_tree\n"
        "import al4ml.journal, al4ml.ui, al4ml.grid\n"
        f"experiment_id(get_client('sqlite:///{tmp_path / 'm.db'}'), 'x')\n"
        "print([m for m in ('torch', 'torchvision', 'matplotlib.figure') if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
