"""Which cells train together: cohorts by shared config, sized by the GPU's memory
(:mod:`al4ml.probe`) or spread over the workers on CPU."""

from __future__ import annotations

from typing import Any

from al4ml.grid.versions import CellStatus
from al4ml.probe import cells_per_device


def plan_cohorts(todo: list[CellStatus], size: int | None, workers: int) -> list[list[CellStatus]]:
    """Group the cells to run into cohorts of cells that can train together.

    Cells share a cohort when they share dataset, model, training and budget
    (``ExperimentConfig.cohort_key``); at most ``size`` per cohort, or with ``size=None``, as
    many as fit one CUDA device (measured, shared by ``workers`` processes) or, on CPU, as
    evenly as keeps every worker busy. Compatible cells are split into cohorts of equal size.
    """
    groups: dict[str, list[CellStatus]] = {}
    for st in todo:
        groups.setdefault(st.cell.config.cohort_key(), []).append(st)
    out = []
    for members in groups.values():
        cap = size
        if cap is None:
            fits = cells_per_device(members[0].cell.config)
            cap = max(1, fits // workers) if fits else -(-len(members) // workers)
        n = -(-len(members) // max(1, cap))
        out += [list(part) for part in _split(members, n)]
    return out


def _split(items: list[Any], n: int) -> list[list[Any]]:
    """``items`` in ``n`` consecutive parts whose sizes differ by at most one."""
    q, r = divmod(len(items), n)
    bounds = [i * q + min(i, r) for i in range(n + 1)]
    return [items[bounds[i] : bounds[i + 1]] for i in range(n)]
