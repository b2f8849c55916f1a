"""Random sampling and the classic uncertainty strategies (modAL's measures, on tensors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from al4ml.query import Selection, register_strategy, select_topk
from al4ml.task import KINDS

if TYPE_CHECKING:
    import torch


@register_strategy("random", needs=("n",), tasks=KINDS)
def random(*, k: int, generator: torch.Generator, n: int) -> Selection:
    """Uniformly random items: the baseline every strategy must beat."""
    import torch

    idx = torch.randperm(n, generator=generator, device=generator.device)[:k]
    return idx, torch.full((len(idx),), float("nan"), device=idx.device)


def least_confidence_scores(probs: torch.Tensor) -> torch.Tensor:
    """``1 - max_c p[c]`` per row of ``probs`` ``[N, C]``."""
    return 1.0 - probs.max(dim=1).values


def margin_scores(probs: torch.Tensor) -> torch.Tensor:
    """Negative gap between the two most likely classes (small gap = high score)."""
    top2 = probs.topk(2, dim=1).values
    return top2[:, 1] - top2[:, 0]


def entropy_scores(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy ``-sum_c p log p`` per row (nats)."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(dim=1)


@register_strategy("least_confidence")
def least_confidence(*, k: int, generator: torch.Generator, probs: torch.Tensor) -> Selection:
    """Items whose most likely class has the lowest probability."""
    return select_topk(least_confidence_scores(probs), k, generator)


@register_strategy("margin")
def margin(*, k: int, generator: torch.Generator, probs: torch.Tensor) -> Selection:
    """Items with the smallest gap between the two most likely classes."""
    return select_topk(margin_scores(probs), k, generator)


@register_strategy("entropy")
def entropy(*, k: int, generator: torch.Generator, probs: torch.Tensor) -> Selection:
    """Items with the highest predictive entropy."""
    return select_topk(entropy_scores(probs), k, generator)
