"""``al4ml grid --until-resolved``: seeds in batches until each planned comparison is decided.

Look ``j`` runs seeds ``0 .. n_j - 1`` (``n_j = j * batch``, the last ``max_seeds``) of the
cells some open comparison still needs (all cells at the first look), then reads every
comparison back from the store and decides it with the group-sequential design of
:mod:`al4ml.report.sequential`. The design is a tag of the grid's parent run: a killed grid,
run again, replays the looks from the runs the store holds (nothing is retrained) and goes on
where the design stands; another design for the same grid is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from al4ml.errors import ConfigError
from al4ml.grid import GridCell, GridRun, load_grid, prepare_grid

if TYPE_CHECKING:
    from al4ml.report.design import SequentialPlan
    from al4ml.report.sequential import Decision
    from al4ml.report.stats import Comparison


@dataclass
class Look:
    """One look of a sequential grid: the seeds it covers, what ran, the decisions after it."""

    number: int
    seeds: int
    run: GridRun
    decided: list[tuple[Comparison, Decision]] = field(default_factory=list)

    @property
    def open(self) -> int:
        """Comparisons that still need seeds."""
        return sum(not d.stopped for _, d in self.decided)


def look_decisions(
    tracking_uri: str, parent_id: str, plan: SequentialPlan, references: dict[str, str] | None = None
) -> list[tuple[Comparison, Decision]]:
    """The counted comparisons of a grid's finished runs and their sequential decisions."""
    from al4ml.report.collect import NoCurves, build_cells, collect, resolve_source
    from al4ml.report.design import decisions
    from al4ml.report.stats import comparisons, resolve_references
    from al4ml.tracking import get_client

    client = get_client(tracking_uri)
    source = resolve_source(client, parent_id)
    try:
        curves, baselines = collect(client, source)
    except NoCurves:
        return []
    cells = build_cells(curves, source.axes, baselines)
    return decisions(comparisons(cells, resolve_references(cells, references or {})), plan)


def run_until_resolved(
    path: str | Path,
    plan: SequentialPlan,
    execute_look: Callable[[GridRun], GridRun],
    overrides: list[str] | None = None,
    tracking_uri: str | None = None,
    cohort_size: int | None = None,
    workers: int = 1,
    create_store: bool = False,
    references: dict[str, str] | None = None,
    on_look: Callable[[Look], None] | None = None,
) -> list[Look]:
    """Run a grid look by look until no counted comparison is open (or a look's cells failed).

    Args:
        path: The grid file (its seed axis is replaced by the design's seeds).
        plan: The design and the axes whose comparisons count.
        execute_look: Trains a prepared look (the CLI's progress display around
            :func:`al4ml.grid.execute`); returns the run with each cell's outcome.
        on_look: Called after each look's decisions.

    Returns:
        The looks made by this call, in order (a re-run's first looks train nothing).

    Raises:
        ConfigError: a bad grid, store or ``--compare``, or a stored design that differs.
    """
    from al4ml.report.design import check_same, design_of, open_settings
    from al4ml.runs import DESIGN_TAG
    from al4ml.tracking import get_client

    axes = [a for a in load_grid(path, overrides).axes if a != "seed"]
    bad = [k for k in plan.compare if not any(k == a or k.startswith(a + ".") for a in axes)]
    if bad:  # before anything trains
        raise ConfigError(
            f"--compare {bad[0]}: no axis of this grid; choose from: "
            f"{', '.join(axes) or '(none: the grid varies only the seed)'}"
        )
    keep: Callable[[GridCell], bool] | None = None
    looks: list[Look] = []
    for number, n in enumerate(plan.design.looks, start=1):
        run = prepare_grid(
            path, overrides, tracking_uri, cohort_size, workers, create_store, seeds=list(range(n)), keep=keep
        )
        if number == 1:
            client = get_client(run.tracking_uri)
            check_same(design_of(client.get_run(run.parent_run_id).data.tags), plan)
            client.set_tag(run.parent_run_id, DESIGN_TAG, plan.to_tag())
        run = execute_look(run)
        look = Look(number, n, run)
        looks.append(look)
        if run.failed or not run.closed:
            break  # missing seeds would hold the design back: the re-run resumes them first
        look.decided = look_decisions(run.tracking_uri, run.parent_run_id, plan, references)
        if on_look is not None:
            on_look(look)
        needed = open_settings(look.decided)
        if not needed:
            break
        keep = _among(needed)
    return looks


def _among(settings: set[str]) -> Callable[[GridCell], bool]:
    """Whether a cell's setting (config minus seed) is one of ``settings`` (hashes)."""
    from al4ml.runs import setting_hash

    return lambda cell: setting_hash(cell.config.flat()) in settings
