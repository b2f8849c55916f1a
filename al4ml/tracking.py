"""MLflow tracking: one run per experiment, one metric point per round (step = labels).

Tracking only observes the loop. It goes through :class:`mlflow.MlflowClient` (no global
active run), so several experiments in one process or in parallel processes never share
state. Artifacts: the resolved config, a CSV of every query, the loop state after each
round (for ``al4ml run --resume``) and the final model weights.

Runs are named ``strategy+augmentation/s<seed>`` (grid cells add their other axes) and
tagged with their setting hash, so the UI's "group by" and al4ml's reports pool only
replicates. A full-data baseline is named ``baseline+<augmentation>/s<seed>``, has no
``strategy`` tag and logs ``ceiling_*`` metrics, so it never lands on a learning-curve chart.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
from filelock import FileLock
from mlflow.entities import Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags

import al4ml
from al4ml.config import ExperimentConfig
from al4ml.errors import IncompleteRun
from al4ml.journal import Writer
from al4ml.records import CellObserver, LoopState, RoundRecord
from al4ml.runs import (
    AXIS_TAG_PREFIX,
    CEILING_PREFIX,
    ERROR_TAG,
    GRID_TAG,
    ROLE_TAG,
    SETTING_TAG,
    TRIALS_ARTIFACT,
    VALIDATION_TAG,
    display_name,
    error_line,
    setting,
    setting_hash,
    validation,
)
from al4ml.store import artifact_root, check_store, resolve_tracking_uri, sqlite_file

if TYPE_CHECKING:  # torch and matplotlib load where a run needs them: a report or the UI never
    from matplotlib.figure import Figure

    from al4ml.data import ActiveDataset
    from al4ml.models.classifier import Classifier

KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
"""MLflow 3 opens experiments of this kind in its training-runs view (not the GenAI one)."""
STATE_ARTIFACT = "state/loop_state.pt"
MODEL_ARTIFACT = "model"
QUERIES_ARTIFACT = "queries.csv"
CLASSES_ARTIFACT = "classes.json"
"""Every candidate of every augmentation search: round, labels, policy, fold scores, chosen."""
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


for _name in ("log_batch", "create_run", "update_run", "set_terminated", "set_tag",
              "set_experiment_tag", "create_experiment", "get_run", "get_metric_history",
              "search_runs", "search_experiments", "get_experiment_by_name", "list_artifacts"):
    setattr(RetryingClient, _name, _retrying(_name, RetryingClient.LOCKED))
RetryingClient.log_inputs = _retrying("log_inputs", RetryingClient.LOCKED + RetryingClient.RACED)


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
        if KIND_TAG not in exp.tags:  # made by an older al4ml or by hand
            client.set_experiment_tag(exp.experiment_id, KIND_TAG, KIND)
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_root(client.tracking_uri),
                                        tags={KIND_TAG: KIND, "mlflow.note.content": (
                                            "al4ml active-learning runs: one run per experiment "
                                            "(grid cells nested under their grid), metrics at "
                                            "step = number of labels.")})
    except MlflowException:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def run_tags(cfg: ExperimentConfig, role: str = "run") -> dict[str, str]:
    """The tags that make runs filterable and groupable in the MLflow UI.

    ``strategy`` carries the full name (``modal:modAL.batch.uncertainty_batch_sampling``);
    baselines have none, so grouping by strategy shows learning curves only.
    """
    flat = cfg.flat()
    tags = {"dataset": cfg.dataset.name if cfg.dataset.name != "medmnist"
            else str(cfg.dataset.options.get("flag", "medmnist")),
            "model": cfg.model.name, "strategy": setting(flat)["query.strategy"],
            "augmentation": setting(flat)["augmentation.name"], "seed": str(cfg.seed),
            "al4ml_version": al4ml.__version__, ROLE_TAG: role, SETTING_TAG: setting_hash(flat),
            VALIDATION_TAG: validation(flat)}
    if role == "baseline":
        del tags["strategy"]
    return tags


class MlflowTracker(CellObserver):
    """Logs an active-learning run to MLflow.

    Args:
        client: MLflow client for the target store.
        cfg: The resolved config (logged as params and as ``config.yaml``).
        run_id: Continue this run (resume) instead of creating a new one.
        parent_run_id: Nest the new run under this one (grids).
        extra_tags: More tags for the run.
        role: ``run``, ``cell`` (of a grid) or ``baseline`` (metrics as ``ceiling_*``).
        axes: A grid cell's axis values (tags ``axis.<key>``; other axes join the run name).
        cohort: Tags naming the cohort this start trains in (set again on resume).
        name: The new run's name (default: :func:`al4ml.runs.display_name`).
    """

    def __init__(self, client: MlflowClient, cfg: ExperimentConfig, run_id: str | None = None,
                 parent_run_id: str | None = None, extra_tags: dict[str, str] | None = None,
                 role: str = "run", axes: dict[str, object] | None = None,
                 cohort: dict[str, str] | None = None, name: str | None = None) -> None:
        self.client = client
        self.cfg = cfg
        self.prefix = CEILING_PREFIX if role == "baseline" else ""
        axes = axes or {}
        tags = {**run_tags(cfg, role), **{f"{AXIS_TAG_PREFIX}{k}": str(v) for k, v in axes.items()},
                **(extra_tags or {})}
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        tags = {**resolve_tags(), **tags, **(cohort or {})}  # source, git commit, user: as MLflow logs
        if run_id is None:
            exp = experiment_id(client, cfg.name)
            flat = cfg.flat()
            run = client.create_run(exp, tags=tags, run_name=name or display_name(flat, role, axes))
            self.run_id = run.info.run_id
            params = [Param(k, v[:6000]) for k, v in flat.items()]
            for i in range(0, len(params), 100):
                client.log_batch(self.run_id, params=params[i:i + 100])
            client.log_text(self.run_id, cfg.to_yaml(), CONFIG_ARTIFACT)
        else:
            self.run_id = run_id
            client.update_run(run_id, status="RUNNING")
            if cohort:
                client.log_batch(run_id, tags=[RunTag(k, v) for k, v in cohort.items()])
        self._rows: list[tuple[int, int, int, float]] = []
        self._files: tuple[str, ...] | None = None
        self._trials: list[dict[str, Any]] = []
        self.finished = False
        self.writer = Writer(client, self.run_id)
        # A resumed run may have logged a round whose state it did not save: never twice.
        self._logged = set() if run_id is None else {
            m.step for m in client.get_metric_history(run_id, f"{self.prefix}n_labeled")}

    def on_start(self, cfg: ExperimentConfig, dataset: ActiveDataset, state: LoopState) -> None:
        """Record dataset facts and the splits as run inputs; rebuild the query log on resume."""
        self.writer.write({"op": "tags", "tags": {
            "pool_size": str(dataset.pool_size), "num_classes": str(dataset.info.num_classes),
            "al4ml.budget_effective": str(min(cfg.budget.total, dataset.pool_size)
                                          if cfg.budget.unit == "labels" else cfg.budget.total)}})
        self._input_shape = (1, dataset.info.channels, *dataset.info.size)
        self._files = dataset.pool_files
        if not state.history:
            self.writer.write({"op": "inputs", "datasets": dataset_inputs(dataset)})
            classes = json.dumps(list(dataset.info.classes))
            self.writer.write({"op": "tags", "tags": {"classes": classes[:5000]}})
            self._artifact(CLASSES_ARTIFACT, lambda path: path.write_text(classes))
        for record in state.history:  # a resumed run fills the holes its saved rounds explain
            self._log_metrics(record)
        self._rows = [row for r in state.history for row in self._query_rows(r)]
        self._trials = [t for r in state.history for t in r.trials]

    def on_round(self, record: RoundRecord, state: LoopState) -> None:
        """Log the round's metrics at step = labels, the query CSV and a state snapshot."""
        import torch

        self._log_metrics(record)
        self._rows += self._query_rows(record)
        if record.trials:
            self._trials += record.trials
            self._artifact(TRIALS_ARTIFACT, lambda path: path.write_text(self.trials_csv()))
        self._artifact(QUERIES_ARTIFACT, lambda path: path.write_text(self.queries_csv()))
        self._artifact(STATE_ARTIFACT, lambda path: torch.save(state.to_dict(), path))

    def _log_metrics(self, record: RoundRecord) -> None:
        """A round's metrics at step = labels, in one batch (a round is stored whole or not), once."""
        if record.n_labeled in self._logged:
            return
        now = int(time.time() * 1000)
        self.writer.write({"op": "metrics", "metrics": [
            {"key": self.prefix + k, "value": float(v), "timestamp": now, "step": record.n_labeled}
            for k, v in record.metrics.items()]})
        self._logged.add(record.n_labeled)

    def missing_rounds(self, history: list[RoundRecord]) -> list[int]:
        """Steps of ``history``'s rounds whose metrics the store does not hold (read back)."""
        return missing_steps(self.client, self.run_id, [r.n_labeled for r in history], self.prefix)

    @staticmethod
    def _query_rows(record: RoundRecord) -> list[tuple[int, int, int, float]]:
        return [(record.round, record.n_labeled, i, s)
                for i, s in zip(record.queried, record.scores, strict=True)]

    def queries_csv(self) -> str:
        """Every query so far: ``round,n_labeled,pool_index,score`` (and ``path``).

        ``round`` is the round whose model picked the item, ``n_labeled`` the labels that
        model was trained on, ``score`` the strategy's score (empty for random); for a dataset
        of files (image folders) ``path`` is the queried image's file under the dataset root,
        what an expert would be sent.
        """
        buf = io.StringIO()
        writer = csv.writer(buf)
        files = self._files
        writer.writerow(["round", "n_labeled", "pool_index", "score"] + ["path"] * bool(files))
        writer.writerows([*row, files[row[2]]] if files else row for row in self._rows)
        return buf.getvalue()

    def trials_csv(self) -> str:
        """Every search trial so far (:data:`TRIALS_ARTIFACT`); params and fold scores as JSON."""
        buf = io.StringIO()
        fields = ["round", "n_labeled", "candidate", "policy", "params", "fold_scores", "score", "pruned",
                  "chosen"]
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        for t in self._trials:
            writer.writerow({**t, "params": json.dumps(t["params"], sort_keys=True),
                             "fold_scores": json.dumps(t["fold_scores"])})
        return buf.getvalue()

    def _artifact(self, artifact_path: str, write: Any) -> None:
        """Write a file with ``write(path)`` and log it at ``artifact_path``."""
        folder, name = os.path.split(artifact_path)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            write(path)
            self.writer.write({"op": "artifact", "dir": folder or None}, path)

    def on_finish(self, model: Classifier, state: LoopState) -> None:
        """Log the final weights and the run's learning curve, close the run as FINISHED."""
        import torch

        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / MODEL_ARTIFACT
            save_mlflow_model(model, self._input_shape, folder)
            self.writer.write({"op": "artifacts", "dir": MODEL_ARTIFACT}, folder)
        self._artifact(f"{MODEL_ARTIFACT}/model_state_dict.pt", lambda path: torch.save(weights, path))
        self._artifact("learning_curve.png", learning_curve_figure(state).savefig)
        if not self.writer.offline and (missing := self.missing_rounds(state.history)):
            raise IncompleteRun(f"the store lacks the rounds at {missing} labels, so the run is not "
                                "closed as FINISHED; al4ml resume logs them from its saved rounds")
        self.writer.write({"op": "status", "status": "FINISHED"})
        self.finished = True
        self.writer.close()

    def on_fail(self, error: BaseException | None = None) -> None:
        """Mark the run FAILED, with why in tag ``al4ml.error``, unless it finished (what it
        logged stays; it can be resumed)."""
        if not self.finished:
            if error is not None:
                self.writer.write({"op": "tags", "tags": {ERROR_TAG: error_line(error)}})
            self.writer.write({"op": "status", "status": "FAILED"})
            self.writer.close()


def dataset_inputs(dataset: ActiveDataset) -> list[dict[str, Any]]:
    """The pool, val and test images as MLflow dataset inputs (name, digest, source, shapes).

    Only images are described, never the pool's labels; the UI's dataset filter works with them.
    """
    import warnings

    import mlflow.data

    out = []
    for context, images in (("pool", dataset.pool_images), ("val", dataset.val.images),
                            ("test", dataset.test.images)):
        with warnings.catch_warnings():  # a local path matches two equivalent source types
            warnings.simplefilter("ignore", UserWarning)
            entity = mlflow.data.from_numpy(images.numpy(), source=dataset.info.source or None,
                                            name=f"{dataset.info.name}-{context}")._to_mlflow_entity()
        out.append({"name": entity.name, "digest": entity.digest, "source_type": entity.source_type,
                    "source": entity.source, "schema": entity.schema, "profile": entity.profile,
                    "context": context})
    return out


def save_mlflow_model(model: Classifier, input_shape: tuple[int, ...], folder: Path) -> None:
    """The final model as an MLflow PyTorch model (``mlflow.pytorch.load_model`` reads it).

    It takes normalised float images ``[B, C, H, W]`` (``al4ml.device.to_input``) and returns
    logits; pickled (the graph format would fix the batch size), with an input example and
    the signature MLflow infers from it.
    """
    import copy
    import logging

    import mlflow.pytorch
    import torch

    cpu = copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format).eval()
    example = torch.zeros(input_shape).numpy()
    quiet = logging.getLogger("mlflow.pytorch")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its warning about pickles is about loading others' models
    try:
        mlflow.pytorch.save_model(cpu, str(folder), input_example=example,
                                  serialization_format="pickle",
                                  pip_requirements=[f"torch>={torch.__version__.split('+')[0]}",
                                                    f"al4ml>={al4ml.__version__}"])
    finally:
        quiet.setLevel(level)


def learning_curve_figure(state: LoopState) -> Figure:
    """Test/val accuracy and test AUC against labels, for one run (no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    x = [r.n_labeled for r in state.history]
    for name in ("test_accuracy", "val_accuracy", "test_auc"):
        ax.plot(x, [r.metrics.get(name, float("nan")) for r in state.history], marker="o", ms=3,
                label=name)
    ax.set_xlabel("labeled images")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def missing_steps(client: MlflowClient, run_id: str, steps: list[int], prefix: str = "") -> list[int]:
    """Which of ``steps`` (label counts) the store holds no round of for run ``run_id``: its
    ``n_labeled`` metric (``ceiling_n_labeled`` for a baseline's ``prefix``) read back."""
    stored = {m.step for m in client.get_metric_history(run_id, f"{prefix}n_labeled")}
    return sorted(set(steps) - stored)


def load_state(client: MlflowClient, run_id: str) -> LoopState:
    """The last loop state a run saved (to resume it)."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=STATE_ARTIFACT,
                                                   dst_path=tmp, tracking_uri=client.tracking_uri)
        return LoopState.from_dict(torch.load(path, weights_only=False))


def logged_config(client: MlflowClient, run_id: str) -> dict[str, Any]:
    """The config tree a run logged (``config.yaml``): what ``al4ml resume RUN_ID`` runs again.

    Raises:
        ConfigError: no such run, or one that logged no config.
    """
    import yaml

    from al4ml.errors import ConfigError

    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ConfigError(f"no run {run_id!r} in {client.tracking_uri}") from None
    if run.data.tags.get(ROLE_TAG) == "grid":
        grid = run.data.tags.get(GRID_TAG, "?")
        raise ConfigError(f"run {run_id} is the parent run of grid {grid!r}; continue a grid "
                          "with al4ml grid <its YAML> (finished cells are skipped, failed ones resume)")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=CONFIG_ARTIFACT,
                                                       dst_path=tmp, tracking_uri=client.tracking_uri)
        except (MlflowException, OSError):
            raise ConfigError(f"run {run_id} logged no {CONFIG_ARTIFACT}; continue it with al4ml run "
                              f"<its YAML> --resume {run_id}") from None
        return yaml.safe_load(Path(path).read_text())
