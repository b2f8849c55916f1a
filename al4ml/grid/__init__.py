"""Strategy x augmentation x seed grids: one MLflow parent run, one nested child run per cell.

A grid file names a base experiment and axes over any config key::

    name: grid_digits
    base: digits_quickstart.yaml        # relative to the grid file
    set: {training.epochs: 20}          # overrides for every cell (optional)
    axes:
      query.strategy: [random, entropy, margin]
      augmentation.name: [none, trivialaugment]
      seed: [0, 1, 2]

Each cell's resolved config is hashed; a re-run skips cells whose hash already FINISHED
under the grid's parent run and resumes cells that failed (from their last round). Cells run
in their own processes (``local``: N at a time on this machine; ``ray``: as Ray tasks on a
cluster), so a killed worker fails only its cell.

A grid is versioned by its *shared* config (everything but the axes): the parent run logs it
as params, and a re-run whose shared config differs (another ``--set``, another base file)
starts a new parent run, version 2, 3, ... of the grid, instead of adding differently
configured cells under the old one. More seeds or more axis values extend the same version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from al4ml.errors import ConfigError
from al4ml.grid.cohorts import plan_cohorts
from al4ml.grid.executors import _outcomes, execute_local, execute_ray, finalize
from al4ml.grid.spec import Grid, GridCell, GridFile, baseline_configs, is_grid_file, load_grid
from al4ml.grid.versions import (
    CellStatus,
    Parent,
    child_runs,
    parent_run,
    pid_alive,
    plan,
    writer_alive,
)
from al4ml.grid.workers import Listener, _cohort_process, _payload, run_cohort_payload
from al4ml.probe import cells_per_device

__all__ = [
    "GridCell",
    "CellStatus",
    "Grid",
    "GridFile",
    "GridRun",
    "Listener",
    "Parent",
    "_cohort_process",
    "_outcomes",
    "_payload",
    "baseline_configs",
    "cells_per_device",
    "child_runs",
    "execute",
    "execute_local",
    "execute_ray",
    "finalize",
    "is_grid_file",
    "load_grid",
    "parent_run",
    "pid_alive",
    "plan",
    "plan_cohorts",
    "prepare_grid",
    "run_cohort_payload",
    "run_grid",
    "writer_alive",
]


@dataclass
class GridRun:
    """A grid run: the grid, its parent run, each cell's plan and outcome, the cohorts."""

    grid: Grid
    parent: Parent
    statuses: list[CellStatus]
    cohorts: list[list[CellStatus]]
    tracking_uri: str
    closed: bool = False
    """Whether the end of the run reached the store (False: it did not answer)."""

    @property
    def parent_run_id(self) -> str:
        """The grid's parent MLflow run (what ``al4ml report`` takes)."""
        return self.parent.run_id

    @property
    def todo(self) -> list[CellStatus]:
        """Cells this run trains (new or resumed)."""
        return [st for st in self.statuses if st.action in ("new", "resume")]

    @property
    def failed(self) -> list[CellStatus]:
        """Cells that failed in this run."""
        return [st for st in self.todo if st.ok is False]


def prepare_grid(
    path: str | Path,
    overrides: list[str] | None = None,
    tracking_uri: str | None = None,
    cohort_size: int | None = None,
    workers: int = 1,
    create_store: bool = False,
    seeds: list[int] | None = None,
    keep: Callable[[GridCell], bool] | None = None,
) -> GridRun:
    """Load a grid file, find or start its parent run, and plan its cells and cohorts.

    ``create_store`` makes a missing store folder instead of refusing it; ``seeds`` replace
    the file's seed axis and ``keep`` picks the cells to plan (a sequential grid's look).

    Raises:
        ConfigError: a bad grid file, config value or store, as one line.
    """
    from al4ml.store import check_store, resolve_tracking_uri

    grid = load_grid(path, overrides, seeds)
    uri = check_store(resolve_tracking_uri(tracking_uri), create=create_store)
    from al4ml.tracking import get_client  # MLflow: once grid and store are fine

    client = get_client(uri)
    parent = parent_run(client, grid)  # the whole grid's shared config names its version
    if keep is not None:
        grid.cells = [c for c in grid.cells if keep(c)]
    client.update_run(parent.run_id, status="RUNNING")
    statuses = plan(client, parent.run_id, grid)
    run = GridRun(grid, parent, statuses, [], uri)
    run.cohorts = plan_cohorts(run.todo, cohort_size, workers) if run.todo else []
    return run


def execute(
    run: GridRun,
    executor: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    gpus_per_cohort: float = 0.0,
    on_change: Listener | None = None,
) -> GridRun:
    """Train a prepared grid's cohorts (local processes or Ray tasks) and close its parent run."""
    if executor == "local":
        execute_local(run.cohorts, run.tracking_uri, run.parent_run_id, workers, on_change)
    elif executor == "ray":
        execute_ray(
            run.cohorts, run.tracking_uri, run.parent_run_id, workers, ray_address, gpus_per_cohort, on_change
        )
    else:
        raise ConfigError(f"unknown executor {executor!r}; choose from: local, ray")
    from al4ml.tracking import get_client

    run.closed = finalize(get_client(run.tracking_uri), run.parent_run_id, run.statuses)
    return run


def run_grid(
    path: str | Path,
    overrides: list[str] | None = None,
    tracking_uri: str | None = None,
    workers: int = 1,
    cohort_size: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    gpus_per_cohort: float = 0.0,
    on_change: Listener | None = None,
) -> GridRun:
    """Run a grid file: skip finished cells, resume the others, train as cohorts, close its parent.

    Arguments as ``al4ml grid``; ``cohort_size=None`` is ``auto``.

    Returns:
        The run: ``parent_run_id`` for :func:`al4ml.report.build_report`, and each cell's status.
    """
    return execute(
        prepare_grid(path, overrides, tracking_uri, cohort_size, workers),
        executor,
        workers,
        ray_address,
        gpus_per_cohort,
        on_change,
    )
