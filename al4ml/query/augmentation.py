"""View-based strategies: scores over augmented views of each pool image.

The views are drawn with ``query.augmentation`` where a config sets one (acquisition
augmentation apart from training, as CAMPAL separates them), else with the policy the round
trained with; the pool is never augmented for any other strategy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from al4ml.query import Selection, register_strategy, select_topk
from al4ml.query.bayesian import bald_scores, variation_ratio_scores

if TYPE_CHECKING:
    import torch

Measure = Literal["kl", "variation_ratio"]
Uncertainty = Literal["entropy", "margin", "least_confidence"]
Aggregate = Literal["mean", "max", "min"]


def consistency_scores(aug_probs: torch.Tensor, measure: Measure = "kl") -> torch.Tensor:
    """Disagreement of K augmented views ``aug_probs [N, K, C]``.

    ``kl``: mean KL divergence of each view from the consensus (mean) prediction, which is
    ``H(mean) - mean H(view)``; ``variation_ratio``: ``1 - modal votes / K``.
    """
    return bald_scores(aug_probs) if measure == "kl" else variation_ratio_scores(aug_probs)


@register_strategy("aug_consistency", needs=("aug_probs",))
def aug_consistency(
    *, k: int, generator: torch.Generator, aug_probs: torch.Tensor, measure: Measure = "kl"
) -> Selection:
    """Items whose predictions disagree across augmented views (query.augmentation's policy)."""
    return select_topk(consistency_scores(aug_probs, measure), k, generator)


def view_uncertainty_scores(
    aug_probs: torch.Tensor, measure: Uncertainty = "entropy", aggregate: Aggregate = "mean"
) -> torch.Tensor:
    """An uncertainty ``measure`` of each view of ``aug_probs [N, K, C]``, aggregated over the
    K views (``[N]``): ``mean``, ``max`` (uncertain in some view) or ``min`` (uncertain in
    every view, CAMPAL's choice for the pool)."""
    from al4ml.query.uncertainty import entropy_scores, least_confidence_scores, margin_scores

    n, views, c = aug_probs.shape
    fn = {"entropy": entropy_scores, "margin": margin_scores, "least_confidence": least_confidence_scores}[
        measure
    ]
    per_view = fn(aug_probs.reshape(n * views, c)).reshape(n, views)
    return {"mean": per_view.mean(1), "max": per_view.amax(1), "min": per_view.amin(1)}[aggregate]


@register_strategy("aug_uncertainty", needs=("aug_probs",))
def aug_uncertainty(
    *,
    k: int,
    generator: torch.Generator,
    aug_probs: torch.Tensor,
    measure: Uncertainty = "entropy",
    aggregate: Aggregate = "mean",
) -> Selection:
    """Items uncertain across augmented views: a measure per view, aggregated (mean|max|min)."""
    return select_topk(view_uncertainty_scores(aug_probs, measure, aggregate), k, generator)
