"""Disagreement between stochastic forward passes (MC dropout): BALD and friends.

Inputs are ``mc_probs [N, K, C]``: K softmax samples per pool item, drawn with dropout active
in front of the classifier head (the model needs ``model.options.dropout > 0``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from al4ml.query import Selection, register_strategy, select_topk
from al4ml.query.uncertainty import entropy_scores

if TYPE_CHECKING:
    import torch


def bald_scores(mc_probs: torch.Tensor) -> torch.Tensor:
    """Mutual information between label and weights: ``H(mean_k p_k) - mean_k H(p_k)``."""
    mean = mc_probs.mean(dim=1)
    expected = entropy_scores(mc_probs.flatten(0, 1)).view(mc_probs.shape[:2]).mean(dim=1)
    return entropy_scores(mean) - expected


def variation_ratio_scores(mc_probs: torch.Tensor) -> torch.Tensor:
    """``1 - (votes for the modal class) / K`` over the K samples' predicted classes."""
    import torch

    k, c = mc_probs.shape[1], mc_probs.shape[2]
    votes = torch.nn.functional.one_hot(mc_probs.argmax(dim=2), c).sum(dim=1)
    return 1.0 - votes.max(dim=1).values.float() / k


def mean_std_scores(mc_probs: torch.Tensor) -> torch.Tensor:
    """Mean over classes of the standard deviation of p[c] across the K samples."""
    return mc_probs.std(dim=1, unbiased=False).mean(dim=1)


@register_strategy("bald", needs=("mc_probs",))
def bald(*, k: int, generator: torch.Generator, mc_probs: torch.Tensor) -> Selection:
    """BALD: items whose MC-dropout samples disagree most (mutual information)."""
    return select_topk(bald_scores(mc_probs), k, generator)


@register_strategy("variation_ratios", needs=("mc_probs",))
def variation_ratios(*, k: int, generator: torch.Generator, mc_probs: torch.Tensor) -> Selection:
    """Items whose MC-dropout samples vote least unanimously for one class."""
    return select_topk(variation_ratio_scores(mc_probs), k, generator)


@register_strategy("mean_std", needs=("mc_probs",))
def mean_std(*, k: int, generator: torch.Generator, mc_probs: torch.Tensor) -> Selection:
    """Items with the largest mean per-class standard deviation across MC-dropout samples."""
    return select_topk(mean_std_scores(mc_probs), k, generator)
