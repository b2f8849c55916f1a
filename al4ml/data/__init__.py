"""Datasets: a registry of loaders returning uint8 image tensors and a pool-label oracle.

A loader is a plain function ``fn(root, **options) -> ActiveDataset`` filed with
``@register_dataset``; its keyword options are validated from its signature before a run.
A loader whose sets may be multi-label declares ``task=fn(**options) -> str`` (MedMNIST's
task string), so that a config is checked against it before anything is loaded.
Images are ``uint8 [N, C, H, W]``; the ``train`` split is the unlabeled pool, whose labels go
to the :class:`~al4ml.oracle.SimulatedOracle` and nowhere else. Loaders import torch and
their readers in their bodies, so this registry loads without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from al4ml.registry import Registry, load_plugins
from al4ml.task import MULTI_CLASS, kind_of

if TYPE_CHECKING:
    from al4ml.data.base import ActiveDataset

DATASETS: Registry = Registry("dataset", inputs=("root",))
register_dataset = DATASETS.register


def create_dataset(name: str, root: str | Path | None = None, **options: Any) -> ActiveDataset:
    """Load dataset ``name`` from ``root`` with loader ``options`` (checked first)."""
    entry = DATASETS.get(name)
    entry.check("dataset", options, "dataset.options")
    return entry.fn(Path(root) if root is not None else None, **options)


def dataset_task(name: str, options: dict[str, Any]) -> str:
    """``multi-class`` or ``multi-label``: what dataset ``name`` with ``options`` will hold."""
    task = DATASETS.get(name).meta.get("task")
    return kind_of(task(**options)) if task is not None else MULTI_CLASS


def __getattr__(name: str) -> Any:
    """The containers of :mod:`al4ml.data.base`, imported (with torch) when first asked for."""
    if name in ("ActiveDataset", "DatasetInfo", "LabeledSplit"):
        from al4ml.data import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


from al4ml.data import digits, imagefolder, medmnist  # noqa: E402,F401  (fill the registry)

load_plugins("al4ml.datasets")

__all__ = [
    "DATASETS",
    "ActiveDataset",
    "DatasetInfo",
    "LabeledSplit",
    "create_dataset",
    "dataset_task",
    "register_dataset",
]
