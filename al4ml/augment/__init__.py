"""Training-time augmentation: per-sample policies applied to whole uint8 batches on the device.

An augmentation is any callable ``(x: uint8 [B, C, H, W], generator) -> uint8 [B, C, H, W]``.
Builders are filed with ``@register_augmentation`` and return one; the training loop calls it
on each batch, on the batch's device, with a seeded ``torch.Generator`` on that device.
Importing this package (and validating a config against it) does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from al4ml.registry import Registry, load_plugins

if TYPE_CHECKING:
    import torch

Augmentation = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]

AUGMENTATIONS: Registry = Registry("augmentation")
register_augmentation = AUGMENTATIONS.register


def create_augmentation(name: str, **params: Any) -> Augmentation:
    """Build augmentation ``name`` with its ``params`` (e.g. ``space="wide"``), checked first."""
    entry = AUGMENTATIONS.get(name)
    entry.check("augmentation", params, "augmentation.params")
    return entry.fn(**params)


from al4ml.augment import policies  # noqa: E402,F401  (fill the registry)

load_plugins("al4ml.augmentations")

__all__ = ["AUGMENTATIONS", "Augmentation", "create_augmentation", "register_augmentation"]
