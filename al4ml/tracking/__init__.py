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

from al4ml.runs import TRIALS_ARTIFACT
from al4ml.tracking.artifacts import dataset_inputs, learning_curve_figure, save_mlflow_model
from al4ml.tracking.client import (
    CLASSES_ARTIFACT,
    CONFIG_ARTIFACT,
    KIND,
    KIND_TAG,
    MODEL_ARTIFACT,
    QUERIES_ARTIFACT,
    STATE_ARTIFACT,
    RetryingClient,
    experiment_id,
    get_client,
)
from al4ml.tracking.reads import load_state, missing_steps, run_config_tree
from al4ml.tracking.tracker import MlflowTracker, run_tags

__all__ = [
    "CLASSES_ARTIFACT",
    "CONFIG_ARTIFACT",
    "KIND",
    "KIND_TAG",
    "MODEL_ARTIFACT",
    "QUERIES_ARTIFACT",
    "STATE_ARTIFACT",
    "TRIALS_ARTIFACT",
    "MlflowTracker",
    "RetryingClient",
    "dataset_inputs",
    "experiment_id",
    "get_client",
    "learning_curve_figure",
    "load_state",
    "run_config_tree",
    "missing_steps",
    "run_tags",
    "save_mlflow_model",
]
