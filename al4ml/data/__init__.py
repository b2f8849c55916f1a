"""Datasets: a registry of loaders returning uint8 image tensors and a pool-label oracle.

A loader is a plain function ``fn(root, **options) -> ActiveDataset`` filed with
``@register_dataset``. Images are ``uint8 [N, C, H, W]``; the ``train`` split is the
unlabeled pool, whose labels go to the :class:`~al4ml.oracle.SimulatedOracle` and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from al4ml.data.base import ActiveDataset, DatasetInfo, LabeledSplit
from al4ml.registry import Registry

DATASETS: Registry = Registry("dataset")
register_dataset = DATASETS.register


def create_dataset(name: str, root: str | Path | None = None, **options: Any) -> ActiveDataset:
    """Load dataset ``name`` from ``root`` with loader ``options``."""
    return DATASETS.get(name).fn(Path(root) if root is not None else None, **options)


from al4ml.data import digits, imagefolder, medmnist  # noqa: E402,F401  (fill the registry)

__all__ = ["DATASETS", "ActiveDataset", "DatasetInfo", "LabeledSplit", "create_dataset",
           "register_dataset"]
