"""Choosing the training augmentation inside the cycle: policy searches on labeled data only.

Every ``augmentation.search.every`` rounds, before the round's model trains, a search method
ranks the candidate policies of ``augmentation.search`` and the round's model trains on all
labeled data with the best one. Methods are filed with ``@register_search`` (like strategies
and augmentations): a method is a plain function ``(problem, **options) -> SearchResult``
over a :class:`~al4ml.search.problem.SearchProblem`, which holds everything a search may
read: the pool images of the labeled rows, the labels the oracle revealed for them, and,
only where ``validation: official`` says so, the official validation split. The test split
and the pool's unrevealed labels never reach a search, so with ``validation: labeled`` the
validation that picks a policy is paid for from the label budget (the counted validation of
Lüth et al., 2023).

Importing this package (and validating a config against it) does not import torch.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from al4ml.registry import Registry, load_plugins

if TYPE_CHECKING:
    from al4ml.config import SearchConfig
    from al4ml.search.problem import SearchProblem, SearchResult

SEARCHES: Registry = Registry("search method", inputs=("problem",))
register_search = SEARCHES.register


def search_policy(search: SearchConfig, problem: SearchProblem) -> SearchResult:
    """Run ``search.method`` with its options on ``problem``; the result carries its seconds."""
    start = time.perf_counter()
    result = SEARCHES.get(search.method).fn(problem, **search.options)
    result.seconds = time.perf_counter() - start
    return result


from al4ml.search import methods  # noqa: E402,F401  (fill the registry)

load_plugins("al4ml.searches")

__all__ = ["SEARCHES", "register_search", "search_policy"]
