"""Diversity and hybrid strategies on embeddings: core-set (k-center greedy) and BADGE.

Both run on the device and never build an ``N x N`` matrix: distances are computed against
one or a few centres at a time (chunked when many), so a 90 k x 512 pool fits easily.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from al4ml.query import Selection, fill_unique, register_strategy
from al4ml.task import KINDS, MULTI_CLASS_TASK, Task

if TYPE_CHECKING:
    import torch


def sq_dists(
    x: torch.Tensor, centres: torch.Tensor, x_sq: torch.Tensor | None = None, c_sq: torch.Tensor | None = None
) -> torch.Tensor:
    """Squared Euclidean distances ``[N, M]`` of rows of ``x [N, D]`` to ``centres [M, D]``.

    ``x_sq`` / ``c_sq`` are the rows' squared norms when the caller already has them.
    """
    x_sq = (x * x).sum(1) if x_sq is None else x_sq
    c_sq = (centres * centres).sum(1) if c_sq is None else c_sq
    d = x_sq[:, None] + c_sq[None, :] - 2.0 * (x @ centres.T)
    return d.clamp_min_(0.0)


def min_sq_dist(
    x: torch.Tensor, centres: torch.Tensor, chunk: int = 2048, x_sq: torch.Tensor | None = None
) -> torch.Tensor:
    """``[N]`` squared distance of each row of ``x`` to its nearest centre (chunked over centres)."""
    import torch

    x_sq = (x * x).sum(1) if x_sq is None else x_sq
    best = torch.full((len(x),), float("inf"), device=x.device, dtype=x.dtype)
    for start in range(0, len(centres), chunk):
        best = torch.minimum(best, sq_dists(x, centres[start : start + chunk], x_sq).min(1).values)
    return best


def k_center_greedy(
    x: torch.Tensor, labeled: torch.Tensor, k: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy k-center (Sener & Savarese): repeatedly take the point farthest from all centres.

    Args:
        x: ``[N, D]`` candidate embeddings.
        labeled: ``[M, D]`` embeddings already covered (M may be 0).
        k: Points to pick.
        generator: Picks the first centre when there is no labeled set; that centre is the
            first of the ``k`` picks (as scikit-activeml's ``CoreSet`` does), with score NaN.

    Returns:
        Indices ``[k]`` and each pick's distance to the centres at the time it was picked.
    """
    import torch

    k = min(k, len(x))
    x_sq = (x * x).sum(1)
    picks, scores = [], []
    if len(labeled):
        dist = min_sq_dist(x, labeled, x_sq=x_sq)
    else:
        first = torch.randint(len(x), (1,), generator=generator, device=generator.device)
        first = first.to(x.device).squeeze(0)
        picks.append(first)
        scores.append(torch.full((), float("nan"), device=x.device, dtype=x.dtype))
        dist = sq_dists(x, x[first].unsqueeze(0), x_sq).squeeze(1)
    while len(picks) < k:
        i = dist.argmax()
        picks.append(i)
        scores.append(dist[i])
        dist = torch.minimum(dist, sq_dists(x, x[i].unsqueeze(0), x_sq).squeeze(1))
    return torch.stack(picks), torch.stack(scores).sqrt()


def kmeans_plusplus(
    x: torch.Tensor, k: int, generator: torch.Generator, n_local_trials: int | None = None
) -> torch.Tensor:
    """Greedy k-means++ seeding (as scikit-learn's ``kmeans_plusplus``), on the device.

    Each step samples ``n_local_trials`` candidates with probability proportional to the
    squared distance to the nearest chosen centre and keeps the one that lowers the
    potential most. No host synchronisation inside the loop.

    Args:
        x: ``[N, D]`` points.
        k: Centres to choose.
        generator: Seeded generator (on ``x``'s device or CPU).
        n_local_trials: Candidates per step (default ``2 + ln k``, scikit-learn's).

    Returns:
        Indices ``[k]`` of the chosen centres.
    """
    import torch

    n = len(x)
    k = min(k, n)
    trials = n_local_trials or 2 + int(math.log(k))
    dev = x.device
    x_sq = (x * x).sum(1)
    first = torch.randint(n, (1,), generator=generator, device=generator.device).to(dev)
    closest = sq_dists(x, x[first], x_sq).squeeze(1)
    picks = [first.squeeze(0)]
    for _ in range(1, k):
        r = torch.rand(trials, generator=generator, device=generator.device).to(dev) * closest.sum()
        cand = torch.searchsorted(torch.cumsum(closest, 0), r).clamp_(max=n - 1)
        d = torch.minimum(closest[None, :], sq_dists(x[cand], x, x_sq[cand], x_sq))
        best = d.sum(1).argmin()
        closest = d[best]
        picks.append(cand[best])
    return torch.stack(picks)


def gradient_embeddings(
    probs: torch.Tensor, embeddings: torch.Tensor, task: Task = MULTI_CLASS_TASK
) -> torch.Tensor:
    """BADGE's ``[N, C*D]``: gradient of the loss at the predicted label w.r.t. the head weights.

    For cross-entropy over softmax ``probs`` the gradient is the outer product
    ``(p - onehot(argmax p)) x h``; for binary cross-entropy over one sigmoid per finding
    (multi-label) it is ``(p - [p > 0.5]) x h``: the same form, at the model's own answer.
    """
    scale = probs - task.predicted(probs)
    return (scale[:, :, None] * embeddings[:, None, :]).flatten(1)


@register_strategy("coreset", needs=("embeddings", "labeled_embeddings"), tasks=KINDS)
def coreset(
    *, k: int, generator: torch.Generator, embeddings: torch.Tensor, labeled_embeddings: torch.Tensor
) -> Selection:
    """Core-set: k-center greedy on embeddings, farthest from the labeled set first."""
    import torch

    idx, dist = k_center_greedy(embeddings, labeled_embeddings, k, generator)
    uniq = fill_unique(idx, len(embeddings), k, generator)
    score_of = torch.full((len(embeddings),), float("nan"), device=dist.device)
    score_of[idx] = dist
    return uniq, score_of[uniq]


@register_strategy("badge", needs=("grad_embeddings",), tasks=KINDS)
def badge(*, k: int, generator: torch.Generator, grad_embeddings: torch.Tensor) -> Selection:
    """BADGE: k-means++ seeding on gradient embeddings (uncertain and diverse at once)."""
    idx = fill_unique(kmeans_plusplus(grad_embeddings, k, generator), len(grad_embeddings), k, generator)
    return idx, grad_embeddings[idx].norm(dim=1)
