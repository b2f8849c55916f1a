"""Query strategies: pure functions from pool tensors to the indices to label next.

A strategy is a plain function filed with ``@register_strategy(needs=(...))``. It is called
with keyword arguments only: ``k`` (how many to pick), ``generator`` (seeded, for ties and
randomness), one tensor per name in ``needs`` — all rows are *unlabeled* pool items —
and its own options from ``query.params``. It returns int64 ``[k]`` row indices into those
tensors, and the score each picked item had (NaN where a strategy has no score), as modAL's
selectors return indices and values. Strategies never see labels, MLflow, files or the
oracle; the loop computes exactly the inputs a strategy declares (see :data:`INPUTS`), so
the loop has no per-strategy code. A strategy's keyword options are its ``query.params``,
validated from its signature before a run; strategy modules import torch in function
bodies, so this registry loads without it.

A strategy also declares the label ``tasks`` it has a meaning for (default: ``multi-class``,
where ``probs`` rows are softmax distributions). On a multi-label set (ChestMNIST) ``probs``
are one sigmoid per finding and ``grad_embeddings`` are taken at the findings above 0.5;
strategies that do not declare ``multi-label`` are refused there before a run starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from al4ml.errors import ConfigError
from al4ml.registry import Entry, Registry, load_plugins
from al4ml.task import KINDS, MULTI_CLASS

if TYPE_CHECKING:
    import torch

INPUTS: dict[str, str] = {
    "n": "int: number of unlabeled pool items",
    "probs": "float [N, C]: class probabilities (softmax; multi-label: one sigmoid per finding)",
    "embeddings": "float [N, D]: penultimate embeddings of the unlabeled pool",
    "labeled_embeddings": "float [M, D]: penultimate embeddings of the labeled items",
    "mc_probs": "float [N, K, C]: K MC-dropout samples of the probabilities (query.mc_samples)",
    "grad_embeddings": "float [N, C*D]: last-layer loss gradient at the predicted label",
    "aug_probs": "float [N, K, C]: probabilities of K augmented views (query.aug_views)",
    "classifier": "scikit-learn-style estimator: predict_proba over embedding rows",
}
"""Inputs the loop can supply to a strategy, by name."""

STRATEGIES: Registry = Registry("strategy", inputs=("k", "generator"))

Selection = tuple["torch.Tensor", "torch.Tensor"]
"""``(indices [k] int64, scores [k] float)`` as returned by every strategy."""


def register_strategy(
    name: str | None = None, needs: tuple[str, ...] = ("probs",), tasks: tuple[str, ...] = (MULTI_CLASS,)
) -> Callable[[Callable[..., Selection]], Callable[..., Selection]]:
    """File a strategy that takes ``k``, ``generator`` and the inputs named in ``needs``.

    Args:
        name: Registry name (default: the function's name).
        needs: Inputs the loop must compute for it (keys of :data:`INPUTS`).
        tasks: Label kinds it has a meaning for (:data:`al4ml.task.KINDS`).
    """
    unknown = [n for n in needs if n not in INPUTS]
    if unknown:
        raise ValueError(f"unknown strategy inputs {unknown}; known: {list(INPUTS)}")
    if bad := [t for t in tasks if t not in KINDS]:
        raise ValueError(f"unknown strategy tasks {bad}; known: {list(KINDS)}")
    return STRATEGIES.register(name, needs=tuple(needs), tasks=tuple(tasks))


def strategies_for(task: str) -> list[str]:
    """The registered strategies that have a meaning for label kind ``task``."""
    return [e.name for e in STRATEGIES.entries() if task in e.meta["tasks"]]


def check_task(name: str, task: str, where: str = "query.strategy") -> None:
    """Refuse strategy ``name`` on a dataset of label kind ``task`` it has no meaning for.

    Raises:
        ConfigError: one line naming the strategy and the ones that fit.
    """
    tasks = STRATEGIES.get(name).meta["tasks"]
    if task not in tasks:
        raise ConfigError(
            f"{where}: {name!r} is a strategy for {' and '.join(tasks)} labels and "
            f"this dataset is {task}; choose from: {', '.join(strategies_for(task))}"
        )


def strategy_options(entry: Entry) -> list[str]:
    """The user options of a strategy: its keyword parameters beyond k, generator and inputs."""
    return list(entry.options)


def select_topk(scores: torch.Tensor, k: int, generator: torch.Generator) -> Selection:
    """The ``k`` highest ``scores`` ``[N]`` and their scores; ties broken by a seeded shuffle.

    The one selection every score-based strategy shares: a random permutation (from
    ``generator``) followed by a stable descending sort, so equal scores come out in a
    seeded random order rather than by position.
    """
    import torch

    k = min(k, len(scores))
    perm = torch.randperm(len(scores), generator=generator, device=generator.device)
    perm = perm.to(scores.device)
    order = torch.argsort(scores[perm], descending=True, stable=True)
    idx = perm[order[:k]]
    return idx, scores[idx]


def fill_unique(picked: torch.Tensor, n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """``picked`` without repeats, topped up with random unpicked rows to ``min(k, n)`` items.

    Diversity strategies can run out of distinct candidates (duplicate points, zero
    potential); this keeps their contract of ``k`` unique indices.
    """
    import torch

    device = picked.device
    seen = torch.zeros(n, dtype=torch.bool, device=device)
    order = torch.arange(len(picked), device=device)
    first = torch.full((n,), len(picked), dtype=torch.long, device=device)
    first.scatter_reduce_(0, picked, order, reduce="amin")
    keep = first[picked] == order
    unique = picked[keep]
    seen[unique] = True
    missing = min(k, n) - len(unique)
    if missing <= 0:
        return unique[:k]
    perm = torch.randperm(n, generator=generator, device=generator.device).to(device)
    extra = perm[~seen[perm]][:missing]
    return torch.cat([unique, extra])


def create_strategy(name: str) -> Entry:
    """The registry entry (function and declared inputs) of strategy ``name``."""
    return STRATEGIES.get(name)


def run_strategy(
    name: str,
    k: int,
    generator: torch.Generator,
    inputs: dict[str, Callable[[], Any]],
    params: dict[str, Any] | None = None,
) -> Selection:
    """Call strategy ``name``, computing only the inputs it declares.

    Args:
        name: Registered strategy.
        k: Number of items to pick.
        generator: Seeded generator.
        inputs: Lazily computed inputs by name (see :data:`INPUTS`).
        params: The strategy's options.

    Returns:
        int64 ``[k]`` unique row indices into the unlabeled pool and their scores.
    """
    entry = STRATEGIES.get(name)
    kwargs = {need: inputs[need]() for need in entry.meta["needs"]}
    return entry.fn(k=k, generator=generator, **kwargs, **(params or {}))


from al4ml.query import (  # noqa: E402,F401  (fill the registry)
    augmentation,
    bayesian,
    diversity,
    modal,
    multilabel,
    uncertainty,
)

load_plugins("al4ml.strategies")

__all__ = [
    "INPUTS",
    "STRATEGIES",
    "Selection",
    "check_task",
    "create_strategy",
    "register_strategy",
    "run_strategy",
    "fill_unique",
    "select_topk",
    "strategies_for",
    "strategy_options",
]
