"""Typed, validated experiment configuration, loaded from YAML and overridable from the CLI.

Every section rejects unknown keys. One validation pass checks every registry-backed name
(dataset, model, augmentation, strategy) and every option value against the registered
function's signature (types, ranges, choices, a ``modal:`` function's module and name),
plus the checks that span sections, so bad input fails before any data, MLflow run or file
exists, with one line naming the key, the bad value and the valid ones. Validation imports
neither torch nor MLflow: it takes a fraction of a second.
"""

from __future__ import annotations

from al4ml.config.experiment import ExperimentConfig, flatten
from al4ml.config.load import anchor_paths, apply_override, build_config, load_config, read_yaml
from al4ml.config.sections import (
    AugmentationConfig,
    BudgetConfig,
    CostConfig,
    DatasetConfig,
    ModelConfig,
    NoiseConfig,
    OracleConfig,
    PolicyChoice,
    QueryConfig,
    RandAugmentGrid,
    SearchConfig,
    TrainingConfig,
    TrivialAugmentGrid,
    holdout_size,
)

__all__ = [
    "AugmentationConfig",
    "BudgetConfig",
    "CostConfig",
    "DatasetConfig",
    "ExperimentConfig",
    "ModelConfig",
    "NoiseConfig",
    "OracleConfig",
    "PolicyChoice",
    "QueryConfig",
    "RandAugmentGrid",
    "SearchConfig",
    "TrainingConfig",
    "TrivialAugmentGrid",
    "anchor_paths",
    "apply_override",
    "build_config",
    "flatten",
    "holdout_size",
    "load_config",
    "read_yaml",
]
