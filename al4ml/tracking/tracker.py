"""One MLflow run per cell: tags, params, a metric point per round (step = labels), the query
log, trial tables, state snapshots, the final model."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.entities import RunTag
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
    EXECUTION_TAG,
    ROLE_TAG,
    SETTING_NAME_TAG,
    SETTING_TAG,
    TRIALS_ARTIFACT,
    VALIDATION_TAG,
    display_name,
    error_line,
    setting,
    setting_hash,
    validation,
)

if TYPE_CHECKING:  # torch and matplotlib load where a run needs them: a report or the UI never
    from al4ml.data import ActiveDataset
    from al4ml.device import Execution
    from al4ml.models.classifier import Classifier

from al4ml.tracking.artifacts import dataset_inputs, learning_curve_figure, save_mlflow_model
from al4ml.tracking.client import (
    CLASSES_ARTIFACT,
    CONFIG_ARTIFACT,
    MODEL_ARTIFACT,
    QUERIES_ARTIFACT,
    STATE_ARTIFACT,
    experiment_id,
    log_params,
    tag_value,
)
from al4ml.tracking.reads import missing_steps


def run_tags(cfg: ExperimentConfig, role: str = "run") -> dict[str, str]:
    """The tags that make runs filterable and groupable in the MLflow UI.

    ``strategy`` carries the full name (``modal:modAL.batch.uncertainty_batch_sampling``);
    baselines have none, so grouping by strategy shows learning curves only.
    """
    flat = cfg.flat()
    named = setting(flat)
    tags = {
        "dataset": cfg.dataset.name
        if cfg.dataset.name != "medmnist"
        else str(cfg.dataset.options.get("flag", "medmnist")),
        "model": cfg.model.name,
        "strategy": named["query.strategy"],
        "augmentation": named["augmentation.name"],
        "seed": str(cfg.seed),
        "al4ml_version": al4ml.__version__,
        ROLE_TAG: role,
        SETTING_TAG: setting_hash(flat),
        VALIDATION_TAG: validation(flat),
    }
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

    def __init__(
        self,
        client: MlflowClient,
        cfg: ExperimentConfig,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        extra_tags: dict[str, str] | None = None,
        role: str = "run",
        axes: dict[str, object] | None = None,
        cohort: dict[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.client = client
        self.cfg = cfg
        self.prefix = CEILING_PREFIX if role == "baseline" else ""
        axes = axes or {}
        tags = {
            **run_tags(cfg, role),
            **{f"{AXIS_TAG_PREFIX}{k}": str(v) for k, v in axes.items()},
            **(extra_tags or {}),
        }
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        tags = {**resolve_tags(), **tags, **(cohort or {})}  # source, git commit, user: as MLflow logs
        if run_id is None:
            exp = experiment_id(client, cfg.name)
            flat = cfg.flat()
            name = name or display_name(flat, role, axes)
            tags[SETTING_NAME_TAG] = name.rsplit("/s", 1)[0]
            run = client.create_run(exp, tags=tags, run_name=name)
            self.run_id = run.info.run_id
            log_params(client, self.run_id, flat)
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
        self._logged = (
            set()
            if run_id is None
            else {m.step for m in client.get_metric_history(run_id, f"{self.prefix}n_labeled")}
        )

    def on_start(
        self, cfg: ExperimentConfig, dataset: ActiveDataset, state: LoopState, execution: Execution
    ) -> None:
        """Record dataset facts, how the run executes (``al4ml.execution``, e.g. ``cuda bf16
        cuda-graph``) and the splits as run inputs; rebuild the query log on resume."""
        self.writer.write(
            {
                "op": "tags",
                "tags": {
                    "pool_size": str(dataset.pool_size),
                    "num_classes": str(dataset.info.num_classes),
                    EXECUTION_TAG: execution.describe(),
                    "al4ml.budget_effective": str(
                        min(cfg.budget.total, dataset.pool_size)
                        if cfg.budget.unit == "labels"
                        else cfg.budget.total
                    ),
                },
            }
        )
        self._input_shape = (1, dataset.info.channels, *dataset.info.size)
        self._files = dataset.pool_files
        if not state.history:
            self.writer.write({"op": "inputs", "datasets": dataset_inputs(dataset)})
            classes = json.dumps(list(dataset.info.classes))
            self.writer.write({"op": "tags", "tags": {"classes": tag_value(classes)}})
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
        self.writer.write(
            {
                "op": "metrics",
                "metrics": [
                    {"key": self.prefix + k, "value": float(v), "timestamp": now, "step": record.n_labeled}
                    for k, v in record.metrics.items()
                ],
            }
        )
        self._logged.add(record.n_labeled)

    def missing_rounds(self, history: list[RoundRecord]) -> list[int]:
        """Steps of ``history``'s rounds whose metrics the store does not hold (read back)."""
        return missing_steps(self.client, self.run_id, [r.n_labeled for r in history], self.prefix)

    @staticmethod
    def _query_rows(record: RoundRecord) -> list[tuple[int, int, int, float]]:
        return [
            (record.round, record.n_labeled, i, s) for i, s in zip(record.queried, record.scores, strict=True)
        ]

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
        fields = [
            "round",
            "n_labeled",
            "candidate",
            "policy",
            "params",
            "fold_scores",
            "score",
            "pruned",
            "chosen",
        ]
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        for t in self._trials:
            writer.writerow(
                {
                    **t,
                    "params": json.dumps(t["params"], sort_keys=True),
                    "fold_scores": json.dumps(t["fold_scores"]),
                }
            )
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
            raise IncompleteRun(
                f"the store lacks the rounds at {missing} labels, so the run is not "
                "closed as FINISHED; al4ml resume logs them from its saved rounds"
            )
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
