"""Uncertainty for multi-label sets (ChestMNIST): one sigmoid per finding, averaged over findings.

``probs`` rows are L independent probabilities, not a distribution, so the softmax measures
(entropy, margin between the top two classes) have no meaning here; these are their
per-finding counterparts, scoring an image by the mean uncertainty of its findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from al4ml.query import Selection, register_strategy, select_topk
from al4ml.task import MULTI_LABEL

if TYPE_CHECKING:
    import torch


def binary_entropy_scores(probs: torch.Tensor) -> torch.Tensor:
    """Mean over findings of the binary entropy ``-p log p - (1-p) log(1-p)`` (nats), ``[N]``."""
    p = probs.clamp(1e-12, 1 - 1e-12)
    return -(p * p.log() + (1 - p) * (1 - p).log()).mean(dim=1)


def margin_to_half_scores(probs: torch.Tensor) -> torch.Tensor:
    """Negative mean distance of each finding's probability to 0.5 (closest = highest), ``[N]``."""
    return -(probs - 0.5).abs().mean(dim=1)


@register_strategy("multilabel_entropy", tasks=(MULTI_LABEL,))
def multilabel_entropy(*, k: int, generator: torch.Generator, probs: torch.Tensor) -> Selection:
    """Images with the highest mean binary entropy over their findings."""
    return select_topk(binary_entropy_scores(probs), k, generator)


@register_strategy("multilabel_margin", tasks=(MULTI_LABEL,))
def multilabel_margin(*, k: int, generator: torch.Generator, probs: torch.Tensor) -> Selection:
    """Images whose findings' probabilities lie closest to 0.5 on average."""
    return select_topk(margin_to_half_scores(probs), k, generator)
