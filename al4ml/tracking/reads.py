"""Reading a run back: which rounds the store holds, its saved loop state, its logged config."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from al4ml.records import LoopState
from al4ml.runs import (
    GRID_TAG,
    ROLE_TAG,
)

if TYPE_CHECKING:  # torch and matplotlib load where a run needs them: a report or the UI never
    pass

from al4ml.tracking.client import CONFIG_ARTIFACT, STATE_ARTIFACT


def missing_steps(client: MlflowClient, run_id: str, steps: list[int], prefix: str = "") -> list[int]:
    """Which of ``steps`` (label counts) the store holds no round of for run ``run_id``: its
    ``n_labeled`` metric (``ceiling_n_labeled`` for a baseline's ``prefix``) read back."""
    stored = {m.step for m in client.get_metric_history(run_id, f"{prefix}n_labeled")}
    return sorted(set(steps) - stored)


def load_state(client: MlflowClient, run_id: str) -> LoopState:
    """The last loop state a run saved (to resume it)."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=STATE_ARTIFACT, dst_path=tmp, tracking_uri=client.tracking_uri
        )
        return LoopState.from_dict(torch.load(path, weights_only=False))


def run_config_tree(client: MlflowClient, run_id: str) -> dict[str, Any]:
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
        raise ConfigError(
            f"run {run_id} is the parent run of grid {grid!r}; continue a grid "
            "with al4ml grid <its YAML> (finished cells are skipped, failed ones resume)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=CONFIG_ARTIFACT, dst_path=tmp, tracking_uri=client.tracking_uri
            )
        except (MlflowException, OSError):
            raise ConfigError(
                f"run {run_id} logged no {CONFIG_ARTIFACT}; continue it with al4ml run "
                f"<its YAML> --resume {run_id}"
            ) from None
        return yaml.safe_load(Path(path).read_text())
