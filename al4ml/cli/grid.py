"""``al4ml grid``: a grid's cells as cohorts, with a live table, piped lines or one JSON object."""

from __future__ import annotations

import functools
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from al4ml.cli.app import (
    QUIET,
    CreateStoreOption,
    ResultJsonOption,
    SetOption,
    TrackingOption,
    app,
    console,
    err_console,
    fail,
)
from al4ml.errors import EXIT_FAILED, EXIT_JOURNALED, Al4mlError


def _cohort_size(value: str) -> int | None:
    """``auto`` -> ``None``; a positive whole number -> itself."""
    from al4ml.errors import ConfigError

    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"--cohort-size: {value!r} is not a whole number >= 1 or 'auto'")
    return int(value)


class Executor(str, Enum):
    """Where grid cells run."""

    local = "local"
    ray = "ray"


@app.command()
def grid(
    grid_file: Annotated[
        Path, typer.Argument(metavar="GRID", help="Grid YAML (see experiments/grid_*.yaml).")
    ],
    set_: SetOption = None,
    tracking_uri: TrackingOption = None,
    executor: Annotated[
        Executor, typer.Option(help="local: worker processes on this machine; ray: one Ray task per cohort.")
    ] = Executor.local,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Cohorts running at once (local processes, or CPUs of a local Ray instance)."
        ),
    ] = 1,
    cohort_size: Annotated[
        str,
        typer.Option(
            metavar="N|auto",
            help="Cells trained together as one stacked model (one process, one GPU program). "
            "auto: all cells that share dataset, model, training and budget and fit the "
            "GPU's memory (measured; on CPU: spread over the workers); 1: every cell alone "
            "in its own process.",
        ),
    ] = "auto",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (default: start a local instance).")
    ] = None,
    gpus_per_cell: Annotated[
        float,
        typer.Option(
            "--gpus-per-cohort",
            "--gpus-per-cell",
            min=0,
            help="GPUs each Ray task (one cohort) reserves (fractions share a GPU).",
        ),
    ] = 0.0,
    create_store: CreateStoreOption = False,
    as_json: ResultJsonOption = False,
    until_resolved: Annotated[
        bool,
        typer.Option(
            "--until-resolved",
            rich_help_panel="Sequential seeds",
            help="Run seeds in batches (0..B-1, then B..2B-1, ...; the file's seed axis is "
            "replaced) until every comparison of the report is decided by a group-sequential "
            "design (O'Brien-Fleming alpha spending over the looks, Bonferroni over the "
            "comparisons, futility by conditional power); later batches train only the cells "
            "an open comparison needs. A re-run continues the same design.",
        ),
    ] = False,
    seed_batch: Annotated[
        int,
        typer.Option(min=2, rich_help_panel="Sequential seeds", help="Seeds per look (--until-resolved)."),
    ] = 3,
    max_seeds: Annotated[
        int,
        typer.Option(
            min=2,
            rich_help_panel="Sequential seeds",
            help="Seeds at the last look; what it leaves undecided is reported as such.",
        ),
    ] = 12,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            metavar="AXIS",
            rich_help_panel="Sequential seeds",
            help="Only comparisons along this axis decide (strategy, augmentation or a config "
            "key; repeatable; default: every comparison the report makes).",
        ),
    ] = None,
) -> None:
    """Run a strategy x augmentation x seed grid: one MLflow parent run, one child per cell.

    Compatible cells train together as cohorts (--cohort-size); each cell is still its own
    MLflow run. Cells that already FINISHED in this grid (same resolved config) are skipped;
    failed or killed cells resume from their last finished round. A failed cell never stops
    the others. With --until-resolved the grid adds seeds until its comparisons are decided.
    """
    from al4ml.grid import GridRun, prepare_grid

    out = err_console if as_json else console  # --json: stdout holds the JSON object alone
    size = None
    try:
        size = _cohort_size(cohort_size)
        show = functools.partial(
            _shown,
            out=out,
            executor=executor,
            workers=workers,
            ray_address=ray_address,
            gpus_per_cell=gpus_per_cell,
            as_json=as_json,
        )
        if not until_resolved:
            run = show(prepare_grid(grid_file, set_, tracking_uri, size, workers, create_store))
            looks: list[Any] = []
        else:
            from al4ml.grid.sequential import run_until_resolved
            from al4ml.report.design import SequentialPlan, compare_keys
            from al4ml.report.sequential import Design

            try:
                design = Design(seed_batch, max_seeds)
            except ValueError as e:
                raise fail(f"--max-seeds {max_seeds}: {e}") from None
            plan = SequentialPlan(design, compare_keys(compare))

            def shown(run: GridRun) -> GridRun:
                return show(run, prefix=f"look {run.grid.axes['seed'][-1] // seed_batch + 1}: ")

            looks = run_until_resolved(
                grid_file,
                plan,
                shown,
                set_,
                tracking_uri,
                size,
                workers,
                create_store,
                on_look=lambda look: _tell_look(out, look),
            )
            run = looks[-1].run
    except Al4mlError as e:
        raise fail(str(e)) from None
    todo = [st for look in looks for st in look.run.todo] if looks else run.todo
    failed = [st for st in todo if st.ok is False]
    if as_json:
        print(
            json.dumps(
                {**_grid_result(run), **({"looks": [_look_result(k) for k in looks]} if looks else {})}
            )
        )
    else:
        console.print(
            (f"{len(todo) - len(failed)} cells finished, {len(failed)} failed" if todo else "nothing to run")
            + f"; report: al4ml report {run.parent_run_id} "
            f"--tracking-uri {run.tracking_uri}",
            highlight=False,
        )
    if not run.closed:
        err_console.print(
            f"tracking store {run.tracking_uri} did not answer at the end: the grid's "
            "run stays open; re-run the grid once it answers (finished cells are "
            "skipped)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if failed and (QUIET["on"] or as_json):  # the live table, which shows why, was not drawn
        for st in failed:
            err_console.print(
                f"cell {st.cell.label} failed: {st.error}", highlight=False, markup=False, soft_wrap=True
            )
    if any(not st.journaled for st in failed):
        raise typer.Exit(code=EXIT_FAILED)
    if failed or not run.closed:  # what is missing waits in journals, or for a re-run
        raise typer.Exit(code=EXIT_JOURNALED)


def _shown(
    run: Any,
    out: Any,
    executor: Executor,
    workers: int,
    ray_address: str | None,
    gpus_per_cell: float,
    as_json: bool,
    prefix: str = "",
) -> Any:
    """Train a prepared grid (or a sequential grid's look) with its header line and a live
    table, piped lines, or nothing (``-q``, ``--json``); returns the run with its outcomes."""
    from rich.live import Live

    from al4ml.grid import execute

    spec, found, parent, todo = run.grid, run.parent, run.parent_run_id, run.todo
    if found.new_version_because:
        out.print(
            f"grid [bold]{spec.name}[/]: the shared config differs from the last run of "
            f"this grid ({escape(found.new_version_because)}); this is version "
            f"{found.version}, a new parent run",
            highlight=False,
        )
    busy = [st for st in run.statuses if st.action == "busy"]
    for st in busy:
        err_console.print(
            f"cell {st.cell.label}: {st.error}; left to it (run {st.run_id})", highlight=False, soft_wrap=True
        )
    cohorts = run.cohorts
    out.print(
        f"{prefix}grid [bold]{spec.name}[/] v{found.version}: {len(run.statuses)} cells, "
        f"{len(run.statuses) - len(todo) - len(busy)} already done, {len(todo)} to run"
        + (
            f" ({sum(st.action == 'resume' for st in todo)} resumed) in {len(cohorts)} "
            f"cohort(s) of {', '.join(str(len(c)) for c in cohorts)}"
            if todo
            else ""
        )
        + f"; parent run {parent}",
        highlight=False,
    )

    def table() -> Table:
        t = Table(title=f"grid {spec.name}")
        for col in ("cell", "state"):
            t.add_column(col)
        for st in todo:
            state = {
                None: "running" if st.started else "queued",
                True: "[green]done[/]",
                False: f"[red]failed[/] {escape(st.error)}",
            }
            t.add_row(st.cell.label, state[st.ok])
        done = sum(st.ok is True for st in todo)
        failed = sum(st.ok is False for st in todo)
        running = sum(st.ok is None and st.started for st in todo)
        t.caption = (
            f"{done} done, {running} running, {failed} failed, {len(todo) - done - failed - running} queued"
        )
        return t

    told: dict[str, bool | None] = {}

    def tell(statuses: list) -> None:
        """Piped output: one line per cell that starts or ends, instead of a live table."""
        for st in statuses:
            state = st.ok if st.ok is not None else (None if st.started else False)
            if st.started and told.get(st.cell.label, "new") != state:
                told[st.cell.label] = state
                word = {None: "running", True: "done"}.get(state, f"failed {st.error}")
                console.print(f"cell {st.cell.label}: {word}", highlight=False, markup=False, soft_wrap=True)

    if QUIET["on"] or as_json or not todo:
        return execute(run, executor.value, workers, ray_address, gpus_per_cell, lambda _: None)
    if not console.is_terminal:
        execute(run, executor.value, workers, ray_address, gpus_per_cell, tell)
        console.print(table())
        return run
    with Live(table(), console=console, refresh_per_second=4) as live:
        return execute(
            run, executor.value, workers, ray_address, gpus_per_cell, lambda _: live.update(table())
        )


def _tell_look(out: Any, look: Any) -> None:
    """One line per look: seeds so far, and the comparisons by state."""
    from al4ml.report.design import summary

    states = summary(look.decided)
    made = max([d.look for _, d in look.decided], default=look.number)  # a re-run reads later looks
    seeds = max([d.seeds for _, d in look.decided], default=look.seeds)
    out.print(
        f"look {made} at {seeds} seeds: "
        + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        + (
            f"; {look.open} open: the next look adds seeds to their cells"
            if look.open
            else "; no comparison is open"
        ),
        highlight=False,
        soft_wrap=True,
    )


def _look_result(look: Any) -> dict[str, Any]:
    """A look for ``--json``: seeds and each counted comparison's decision."""
    from al4ml.report.design import decision_json

    return {
        "look": look.number,
        "seeds": look.seeds,
        "trained": len(look.run.todo),
        "comparisons": [decision_json(c, d) for c, d in look.decided],
    }


def _grid_result(run: Any) -> dict[str, Any]:
    """What ``al4ml grid --json`` prints: the parent run and every cell's run, status and
    last metrics, read back from the store."""
    from al4ml.grid import child_runs
    from al4ml.runs import CELL_TAG
    from al4ml.tracking import get_client

    client = get_client(run.tracking_uri)
    runs: dict[str, Any] = {}
    for r in sorted(child_runs(client, run.parent_run_id), key=lambda r: r.info.start_time or 0):
        runs[r.data.tags.get(CELL_TAG, "")] = r  # the newest run of a cell wins
    cells = []
    for st in run.statuses:
        r = runs.get(st.cell.key)
        cells.append(
            {
                "cell": st.cell.label,
                "run_id": r.info.run_id if r else st.run_id,
                "status": r.info.status if r else "MISSING",
                "action": st.action,
                "error": st.error or None,
                "n_labeled": r.data.metrics.get("n_labeled") if r else None,
                "test_accuracy": r.data.metrics.get("test_accuracy") if r else None,
            }
        )
    return {
        "grid": run.grid.name,
        "version": run.parent.version,
        "parent_run_id": run.parent_run_id,
        "tracking_uri": run.tracking_uri,
        "failed": len(run.failed),
        "cells": cells,
    }
