"""Augmentation consistency: query images whose prediction is unstable under the training policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from al4ml.query import Selection, register_strategy, select_topk
from al4ml.query.bayesian import bald_scores, variation_ratio_scores

if TYPE_CHECKING:
    import torch

Measure = Literal["kl", "variation_ratio"]


def consistency_scores(aug_probs: torch.Tensor, measure: Measure = "kl") -> torch.Tensor:
    """Disagreement of K augmented views ``aug_probs [N, K, C]``.

    ``kl``: mean KL divergence of each view from the consensus (mean) prediction, which is
    ``H(mean) - mean H(view)``; ``variation_ratio``: ``1 - modal votes / K``.
    """
    return bald_scores(aug_probs) if measure == "kl" else variation_ratio_scores(aug_probs)


@register_strategy("aug_consistency", needs=("aug_probs",))
def aug_consistency(*, k: int, generator: torch.Generator, aug_probs: torch.Tensor,
                    measure: Measure = "kl") -> Selection:
    """Items whose predictions disagree across augmented views (the run's own policy)."""
    return select_topk(consistency_scores(aug_probs, measure), k, generator)
