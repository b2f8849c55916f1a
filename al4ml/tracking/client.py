"""The MLflow client al4ml uses: reads retried through a store's brief refusals, experiments
opened in MLflow's training view, sqlite stores opened under a file lock."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from filelock import FileLock
from mlflow.entities import Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from al4ml.store import artifact_root, check_store, resolve_tracking_uri, sqlite_file

if TYPE_CHECKING:  # torch and matplotlib load where a run needs them: a report or the UI never
    pass


KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
PRIMARY_METRIC_TAG, PRIMARY_METRIC = "mlflow.experiment.primaryMetric.name", "test_accuracy"
"""MLflow's UI draws an experiment's primary metric as its first chart: the learning curve."""
"""MLflow 3 opens experiments of this kind in its training-runs view (not the GenAI one)."""
STATE_ARTIFACT = "state/loop_state.pt"
MODEL_ARTIFACT = "model"
QUERIES_ARTIFACT = "queries.csv"
CLASSES_ARTIFACT = "classes.json"
"""The dataset's class names, in label order (what the model's outputs mean)."""
CONFIG_ARTIFACT = "config.yaml"


class RetryingClient(MlflowClient):
    """An :class:`~mlflow.MlflowClient` whose reads and writes retry while the store is busy.

    Several worker processes share one store in a grid. SQLite serialises writers, and a
    writer that waits past MLflow's busy timeout (20 s) gets "database is locked" (a long
    read in the MLflow UI, a backup or a ``sqlite3`` shell in a transaction can hold the lock
    that long); a reader meets the same error under an exclusive lock. Reads are retried as
    writes are: a run reads its metrics back before it logs a round, and an unretried read
    would drop that round. The first runs of an experiment log
    the same dataset inputs at once, and MLflow adds a dataset by looking for it and then
    inserting it: on PostgreSQL (or MySQL) the processes that lose that race get a unique-key
    violation for the row the winner just inserted. Both are retried with backoff (the
    failed write was rolled back whole, and a retried ``log_inputs`` finds the winner's
    row), so no metric point or input is lost and no cell fails for it.
    """

    RETRIES = 30
    LOCKED = ("locked",)
    RACED = ("unique constraint", "duplicate key", "duplicate entry")
    """Words of a lost insert race: PostgreSQL, SQLite ("UNIQUE constraint failed"), MySQL."""

    def _retry(self, fn: Any, *args: Any, markers: tuple[str, ...] = LOCKED, **kwargs: Any) -> Any:
        delay = 0.05
        for attempt in range(self.RETRIES):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # MLflow wraps the driver's errors in several ways
                text = str(e).lower()
                if not any(m in text for m in markers) or attempt == self.RETRIES - 1:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")


def _retrying(name: str, markers: tuple[str, ...]) -> Any:
    def method(self: RetryingClient, *args: Any, **kwargs: Any) -> Any:
        return self._retry(getattr(MlflowClient, name), self, *args, markers=markers, **kwargs)

    method.__name__ = name
    method.__doc__ = f":meth:`mlflow.MlflowClient.{name}`, retried while the store is busy."
    return method


for _name in (
    "log_batch",
    "create_run",
    "update_run",
    "set_terminated",
    "set_tag",
    "set_experiment_tag",
    "create_experiment",
    "get_run",
    "get_metric_history",
    "search_runs",
    "search_experiments",
    "get_experiment_by_name",
    "list_artifacts",
    "log_inputs",
):
    setattr(
        RetryingClient,
        _name,
        _retrying(_name, RetryingClient.LOCKED + (RetryingClient.RACED if _name == "log_inputs" else ())),
    )


def as_logged(value: str) -> str:
    """A param value as MLflow stores it (cut at ``MAX_PARAM_VAL_LENGTH``): what a logged
    param is compared with."""
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    return value[:MAX_PARAM_VAL_LENGTH]


def tag_value(value: str) -> str:
    """A tag value cut to what MLflow takes (``MAX_TAG_VAL_LENGTH``)."""
    from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

    return value[:MAX_TAG_VAL_LENGTH]


def log_params(client: MlflowClient, run_id: str, params: dict[str, str]) -> None:
    """Log a flat config as params, each value as :func:`as_logged`, in MLflow's largest batches."""
    from mlflow.utils.validation import MAX_PARAMS_TAGS_PER_BATCH

    items = [Param(k, as_logged(v)) for k, v in params.items()]
    for i in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=items[i : i + MAX_PARAMS_TAGS_PER_BATCH])


def get_client(uri: str | None = None) -> MlflowClient:
    """A (retrying) client for the resolved tracking URI, checked first (:func:`check_store`).

    A sqlite store is opened (created and migrated, the first time) under an inter-process
    file lock beside it, so processes that start together on a new store wait for the
    first one instead of racing through MLflow's schema migrations.
    """
    uri = check_store(resolve_tracking_uri(uri))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars among al4ml's lines
    db = sqlite_file(uri)
    if db is None:
        if uri.startswith(("http://", "https://")):  # fail over to the journal in seconds, not minutes
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        return RetryingClient(tracking_uri=uri)
    with FileLock(db.parent / f".{db.name}.lock", timeout=600):
        return RetryingClient(tracking_uri=uri)  # MLflow opens (and migrates) the store here


def experiment_id(client: MlflowClient, name: str) -> str:
    """Id of experiment ``name``, created (with artifacts beside a sqlite db) if missing.

    Get-or-create: a process that loses the race to create it (a unique-name error) reads the
    winner's id.
    """
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        for key, value in ((KIND_TAG, KIND), (PRIMARY_METRIC_TAG, PRIMARY_METRIC)):
            if key not in exp.tags:  # made by hand or by MLflow itself
                client.set_experiment_tag(exp.experiment_id, key, value)
        return exp.experiment_id
    try:
        return client.create_experiment(
            name,
            artifact_location=artifact_root(client.tracking_uri),
            tags={
                KIND_TAG: KIND,
                PRIMARY_METRIC_TAG: PRIMARY_METRIC,
                "mlflow.note.content": (
                    "al4ml active-learning runs: one run per experiment "
                    "(grid cells nested under their grid), metrics at "
                    "step = number of labels."
                ),
            },
        )
    except MlflowException:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id
