import csv
import io
from pathlib import Path

import pytest
from helpers import METRICS_PER_ROUND, tiny_config

from al4ml.runs import setting_hash
from al4ml.store import resolve_tracking_uri
from al4ml.tracking import CONFIG_ARTIFACT, QUERIES_ARTIFACT, get_client


def test_one_run_with_a_point_per_round_at_step_labels(logged):
    uri, cfg, result = logged
    client = get_client(uri)
    exp = client.get_experiment_by_name(cfg.name)
    runs = client.search_runs([exp.experiment_id])
    assert [r.info.run_id for r in runs] == [result.run_id]
    assert runs[0].info.status == "FINISHED"
    for name in METRICS_PER_ROUND:
        history = client.get_metric_history(result.run_id, name)
        assert [m.step for m in history] == [10, 20, 30, 40], name
    n_labeled = client.get_metric_history(result.run_id, "n_labeled")
    assert [m.value for m in n_labeled] == [10, 20, 30, 40]
    acc = [m.value for m in client.get_metric_history(result.run_id, "test_accuracy")]
    assert acc == [r.metrics["test_accuracy"] for r in result.state.history]


def test_params_tags_and_artifacts(logged, tmp_path):
    uri, cfg, result = logged
    client = get_client(uri)
    run = client.get_run(result.run_id)
    assert run.data.params["query.strategy"] == "margin"
    assert run.data.params["budget.total"] == "40"
    assert run.data.params["model.options.width"] == "8"
    tags = run.data.tags
    assert (tags["dataset"], tags["model"], tags["strategy"], tags["augmentation"], tags["seed"]) == (
        "digits",
        "tiny_cnn",
        "margin",
        "randaugment",
        "0",
    )
    assert tags["al4ml_version"] and tags["al4ml.role"] == "run"
    assert tags["al4ml.execution"] == "cpu fp32 eager"  # bf16 and CUDA graphs are on, for CUDA only
    assert run.info.run_name == "margin+randaugment/s0"
    assert tags["setting"] == "margin+randaugment"  # MLflow's UI groups seeds by it
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experiment.primaryMetric.name"] == "test_accuracy"
    assert tags["al4ml.setting"] == setting_hash(cfg.flat())
    assert (
        setting_hash(
            tiny_config(**{"query.strategy": "margin", "augmentation.name": "randaugment", "seed": 5}).flat()
        )
        == tags["al4ml.setting"]
    )
    assert (
        setting_hash(
            tiny_config(
                **{"query.strategy": "margin", "augmentation.name": "randaugment", "training.epochs": 4}
            ).flat()
        )
        != tags["al4ml.setting"]
    )
    config_text = Path(client.download_artifacts(result.run_id, CONFIG_ARTIFACT, tmp_path)).read_text()
    assert "strategy: margin" in config_text
    queries = Path(client.download_artifacts(result.run_id, QUERIES_ARTIFACT, tmp_path)).read_text()
    rows = list(csv.DictReader(io.StringIO(queries)))
    indices = [int(r["pool_index"]) for r in rows]
    assert len(indices) == len(set(indices)) == 40 - 10
    assert {r["round"] for r in rows} == {"0", "1", "2"}
    paths = {a.path for a in client.list_artifacts(result.run_id, "model")}
    assert "model/model_state_dict.pt" in paths


def test_tracking_uri_resolution(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None) == "sqlite:///mlruns.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///other.db")
    assert resolve_tracking_uri(None) == "sqlite:///other.db"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_runs_are_mlflow_native_source_dataset_inputs_and_a_loadable_model(logged, tmp_path, monkeypatch):
    import mlflow.pytorch
    import torch

    from al4ml.device import to_input
    from al4ml.models import create_model

    uri, cfg, result = logged
    client = get_client(uri)
    run = client.get_run(result.run_id)
    tags = run.data.tags
    assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.source.name"] and tags["mlflow.user"]
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"digits-pool", "digits-val", "digits-test"}
    assert {t.value for i in inputs.values() for t in i.tags} == {"pool", "val", "test"}
    assert all(i.dataset.digest for i in inputs.values())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    model = mlflow.pytorch.load_model(f"runs:/{result.run_id}/model")
    weights = Path(client.download_artifacts(result.run_id, "model/model_state_dict.pt", str(tmp_path)))
    saved = create_model("tiny_cnn", 1, 10, width=8)
    saved.load_state_dict(torch.load(weights))
    from al4ml.data import create_dataset

    x = to_input(create_dataset("digits").test.images[:32])
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), saved.eval()(x), atol=1e-5)


def test_the_retry_rules_of_the_store_client_one_by_one(monkeypatch):
    """Against a fake call: a locked store is waited out, a lost insert race is retried for
    ``log_inputs`` only, any other error is raised at once, and the last attempt's error is
    raised as it came."""
    from al4ml.tracking.client import RetryingClient

    monkeypatch.setattr("al4ml.tracking.client.time.sleep", lambda s: None)
    client = RetryingClient("sqlite:///:memory:")

    def failing(*messages: str):
        left = list(messages)
        calls = []

        def call(*args, **kwargs):
            calls.append(args)
            if left:
                raise RuntimeError(left.pop(0))
            return "done"

        return call, calls

    call, calls = failing("(sqlite3.OperationalError) database is locked", "Database is LOCKED")
    assert client._retry(call, 1) == "done" and len(calls) == 3
    race = "UNIQUE constraint failed: datasets.experiment_id"
    call, calls = failing(race)
    assert client._retry(call, markers=RetryingClient.LOCKED + RetryingClient.RACED) == "done"
    call, calls = failing(race)
    with pytest.raises(RuntimeError, match="UNIQUE"):
        client._retry(call)  # a race counts only where the write may be repeated
    call, calls = failing("RESOURCE_DOES_NOT_EXIST: run x")
    with pytest.raises(RuntimeError, match="RESOURCE_DOES_NOT_EXIST"):
        client._retry(call)
    assert len(calls) == 1
    call, calls = failing(*["database is locked"] * RetryingClient.RETRIES)
    with pytest.raises(RuntimeError, match="locked"):
        client._retry(call)
    assert len(calls) == RetryingClient.RETRIES
