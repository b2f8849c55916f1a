"""Training-time augmentation: per-sample policies applied to whole uint8 batches on the device.

An augmentation is any callable ``(x: uint8 [B, C, H, W], generator) -> uint8 [B, C, H, W]``.
Builders are filed with ``@register_augmentation`` and return one; the training loop calls it
on each batch, on the batch's device, with a seeded ``torch.Generator`` on that device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from al4ml.registry import Registry

Augmentation = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

AUGMENTATIONS: Registry = Registry("augmentation")
register_augmentation = AUGMENTATIONS.register


def create_augmentation(name: str, **params: Any) -> Augmentation:
    """Build augmentation ``name`` with its ``params`` (e.g. ``space="wide"``)."""
    return AUGMENTATIONS.get(name).fn(**params)


from al4ml.augment import policies  # noqa: E402,F401  (fill the registry)

__all__ = ["AUGMENTATIONS", "Augmentation", "create_augmentation", "register_augmentation"]
