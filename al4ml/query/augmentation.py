"""Augmentation consistency: query images whose prediction is unstable under the training policy."""

from __future__ import annotations

import torch

from al4ml.errors import ConfigError
from al4ml.query import Selection, register_strategy, select_topk
from al4ml.query.bayesian import bald_scores, variation_ratio_scores


def consistency_scores(aug_probs: torch.Tensor, measure: str = "kl") -> torch.Tensor:
    """Disagreement of K augmented views ``aug_probs [N, K, C]``.

    ``kl``: mean KL divergence of each view from the consensus (mean) prediction, which is
    ``H(mean) - mean H(view)``; ``variation_ratio``: ``1 - modal votes / K``.
    """
    if measure == "kl":
        return bald_scores(aug_probs)
    if measure == "variation_ratio":
        return variation_ratio_scores(aug_probs)
    raise ConfigError(f"query.params.measure: unknown measure {measure!r}; "
                      "choose from: kl, variation_ratio")


@register_strategy("aug_consistency", needs=("aug_probs",))
def aug_consistency(*, k: int, generator: torch.Generator, aug_probs: torch.Tensor,
                    measure: str = "kl") -> Selection:
    """Items whose predictions disagree across augmented views (the run's own policy)."""
    return select_topk(consistency_scores(aug_probs, measure), k, generator)
