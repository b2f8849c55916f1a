import json
import socket
from pathlib import Path

from mlflow.tracking import MlflowClient

from al4ml.journal import Journal, Writer, apply, unreachable
from al4ml.tracking import experiment_id, get_client


def dead_client(monkeypatch) -> MlflowClient:
    """A client of a port nothing listens on: every write fails as an unreachable store does."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")


def metrics(step: int) -> dict:
    return {
        "op": "metrics",
        "metrics": [
            {"key": k, "value": v, "timestamp": 0, "step": step}
            for k, v in (("acc", step / 100), ("loss", 1 - step / 100))
        ],
    }


def test_writes_wait_in_the_journal_in_order_and_arrive_once(tmp_path, monkeypatch, capsys):
    live = get_client(f"sqlite:///{tmp_path / 'm.db'}")
    run_id = live.create_run(experiment_id(live, "j")).info.run_id
    writer = Writer(dead_client(monkeypatch), run_id, root=tmp_path / "journal")
    (tmp_path / "a.txt").write_text("first")
    writer.write(metrics(10))
    writer.write({"op": "artifact", "dir": "notes"}, tmp_path / "a.txt")
    (tmp_path / "a.txt").write_text("second")  # the journal kept its own copy of the first
    writer.write(metrics(20))
    writer.write({"op": "tags", "tags": {"k": "v"}})
    assert writer.offline and [op["seq"] for op in writer.journal.pending()] == [0, 1, 2, 3]
    assert "is unreachable" in capsys.readouterr().err
    assert live.get_metric_history(run_id, "acc") == []
    journal = Journal(tmp_path / "journal" / run_id)
    # A replay interrupted after its first write: the next one must not send it twice.
    apply(live, run_id, journal.pending()[0], journal.folder / "files")
    writer.client = live
    assert writer.close() is True
    assert [m.step for m in live.get_metric_history(run_id, "acc")] == [10, 20]
    assert [m.step for m in live.get_metric_history(run_id, "loss")] == [10, 20]
    assert live.get_run(run_id).data.tags["k"] == "v"
    path = live.download_artifacts(run_id, "notes/a.txt", str(tmp_path))
    assert Path(path).read_text() == "first"
    assert not (tmp_path / "journal" / run_id).exists()


def test_a_journal_remembers_its_store_and_run(tmp_path):
    journal = Journal(tmp_path / "r1", "sqlite:///x.db", "r1")
    journal.append({"op": "status", "status": "FINISHED"})
    again = Journal(tmp_path / "r1")
    assert (again.tracking_uri, again.run_id) == ("sqlite:///x.db", "r1")
    assert json.loads((tmp_path / "r1" / "ops.jsonl").read_text())["status"] == "FINISHED"


def test_only_an_unreachable_store_counts_as_unreachable(monkeypatch):
    try:
        dead_client(monkeypatch).get_run("x")
    except Exception as e:
        assert unreachable(e)
    assert not unreachable(ValueError("RESOURCE_DOES_NOT_EXIST: run x"))
