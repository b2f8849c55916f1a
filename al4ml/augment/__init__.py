"""Training-time augmentation: per-sample policies applied to whole uint8 batches on the device.

An augmentation is a :class:`~al4ml.augment.policy.Policy`: it draws per-sample op stages for
a batch, and applies them (``policy(x: uint8 [B, C, H, W], generator) -> uint8 [B, C, H, W]``).
Builders are filed with ``@register_augmentation`` and return one; training applies the K
cells' policies to their batches in one pass (:class:`~al4ml.augment.policy.CohortAugment`),
on the batch's device, each with its own seeded ``torch.Generator`` on that device.
Importing this package (and validating a config against it) does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from al4ml.registry import Registry, load_plugins

if TYPE_CHECKING:
    from al4ml.augment.policy import Policy

AUGMENTATIONS: Registry = Registry("augmentation")
register_augmentation = AUGMENTATIONS.register


def create_augmentation(name: str, **params: Any) -> Policy:
    """Build augmentation ``name`` with its ``params`` (e.g. ``space="wide"``), checked first."""
    entry = AUGMENTATIONS.get(name)
    entry.check("augmentation", params, "augmentation.params")
    return entry.fn(**params)


from al4ml.augment import policies  # noqa: E402,F401  (fill the registry)

load_plugins("al4ml.augmentations")

__all__ = ["AUGMENTATIONS", "create_augmentation", "register_augmentation"]
