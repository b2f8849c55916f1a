"""Seeds: one independent, reproducible stream per (seed, round, purpose, member).

Every random choice of a run draws from its own stream (the initial set, each round's model
initialisation, batch order and augmentation, the query's tie-breaks, the oracle's noise, a
search's splits, members and views, the holdout of ``training.select: best_holdout``), so a
run resumed from any round, or trained in any cohort, draws exactly what it drew before.
"""

from __future__ import annotations

import numpy as np
import torch

PURPOSES = {
    "init": 0,
    "initial_set": 1,
    "train": 2,
    "query": 3,
    "oracle_noise": 4,
    "search_split": 5,
    "search_init": 6,
    "search_train": 7,
    "search_views": 8,
    "search_sampler": 9,
    "holdout": 10,
}
"""The purposes a run draws for; a purpose's number is part of its streams' entropy."""


def derive_seed(seed: int, round_: int, purpose: str, index: int | None = None) -> int:
    """A 63-bit seed for one purpose in one round (independent streams via SeedSequence);
    ``index`` tells apart the members of one purpose (a search's trial models)."""
    entropy = [seed, round_, PURPOSES[purpose]] + ([] if index is None else [index])
    state = np.random.SeedSequence(entropy).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def generator(seed: int, device: torch.device) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)
