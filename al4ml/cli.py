"""The ``al4ml`` command line (typer + rich).

Bad input (config keys and values, names, files) ends with one line on stderr naming the
bad value and the valid choices, and exit code 2 — never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from al4ml.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_JOURNALED, Al4mlError, RunFailed
from al4ml.runs import COST_METRIC, WRONG_LABELS_METRIC, check_x_axis
from al4ml.store import check_store, existing_store, resolve_tracking_uri

app = typer.Typer(
    help="al4ml: simulate active learning for image classification. Compare query strategies "
         "and training augmentations by how many labels they need; every round is logged to "
         "MLflow (step = number of labels).",
    no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False,
    rich_markup_mode="rich")
# Piped output is not wrapped at 80 columns (a printed command or URI stays one line).
console = Console(soft_wrap=not sys.stdout.isatty())
err_console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())
QUIET = {"on": False}
QUIET_FLAGS = ("-q", "--quiet")

SetOption = Annotated[list[str] | None, typer.Option(
    "--set", "-s", metavar="KEY=VALUE",
    help="Override a config value, e.g. --set budget.total=60 --set query.strategy=margin "
         "(values are parsed as YAML; repeatable).")]
TrackingOption = Annotated[str | None, typer.Option(
    "--tracking-uri", "-t", envvar="MLFLOW_TRACKING_URI",
    help="MLflow store. Default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns.db in the "
         "current directory.")]

CreateStoreOption = Annotated[bool, typer.Option(
    "--create-store", help="Make the tracking store's folder if it does not exist (else a "
                           "missing folder is refused: a mistyped path would start a new store).")]


def _version(value: bool) -> None:
    if value:
        from al4ml import __version__

        print(f"al4ml {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print al4ml's version and exit.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bars and no MLflow INFO lines (results and errors "
                              "only); also accepted after the command.")] = False,
) -> None:
    """al4ml: simulate active learning for image classification."""
    QUIET["on"] = quiet
    if quiet:  # MLflow sets its loggers' level from this when it is imported
        os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _progress(requested: bool) -> bool:
    return requested and not QUIET["on"]


JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead.")]
ResultJsonOption = Annotated[bool, typer.Option(
    "--json", help="No tables or progress: print one JSON object (run ids, status, final "
                   "metrics) as the only output on stdout.")]


def fail(message: str) -> typer.Exit:
    """Print one error line to stderr and return the exit (code 2) to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=EXIT_BAD_INPUT)


def _failed(error: RunFailed, uri: str) -> typer.Exit:
    """One line for a run that stopped on an error, with the command that continues it."""
    err_console.print(f"[bold red]error:[/] {escape(str(error))}; its finished rounds are in MLflow: "
                      f"continue with al4ml resume {error.run_id} --tracking-uri {uri}",
                      highlight=False, soft_wrap=True)
    return typer.Exit(code=EXIT_FAILED)


def _assignment(text: str, option: str) -> tuple[str, str]:
    """``KEY=VALUE`` of a repeatable option, split; a missing ``=`` is a one-line error."""
    from al4ml.errors import ConfigError

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{option} expects AXIS=VALUE (e.g. augmentation=none), got {text!r}")
    return key.strip(), value.strip()


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _policy_label(policy: dict | None) -> str:
    """``randaugment(m=15, n=2)``: a chosen augmentation, as the rounds table shows it."""
    from al4ml.runs import policy_label

    return policy_label(policy["name"], policy.get("params", {})) if policy else "-"


def baselines_table(results: list) -> Table:
    """One row per baseline run: its name (the settings it differs in), test and val scores."""
    table = Table(title=f"{len(results)} baseline run(s): the full training split")
    for col, justify in (("baseline", "left"), ("test acc", "right"), ("test AUC", "right"),
                         ("val AUC", "right"), ("epochs", "right"), ("run id", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in results:
        m = r.state.history[-1].metrics if r.state and r.state.history else {}
        epochs = m.get("selected_epoch")
        table.add_row(r.name, _fmt(m.get("test_accuracy")), _fmt(m.get("test_auc")),
                      _fmt(m.get("val_auc")), "last" if epochs is None else f"{epochs:.0f} (best)",
                      r.run_id)
    return table


def rounds_table(history: list) -> Table:
    """A rich table with one row per round; a priced or erring oracle's final bill and wrong
    answers in its caption."""
    table = Table(title="Learning curve (one row per round)")
    searched = any(r.policy for r in history)
    for col in ("round", "labels", "test acc", "test AUC", "val acc", "train loss", "train s",
                "query s", *(("policy (searched)", "search s") if searched else ())):
        table.add_column(col, justify="right")
    for r in history:
        m = r.metrics
        table.add_row(str(r.round), str(r.n_labeled), _fmt(m.get("test_accuracy")),
                      _fmt(m.get("test_auc")), _fmt(m.get("val_accuracy")),
                      _fmt(m.get("train_loss")), _fmt(m.get("train_seconds"), 2),
                      _fmt(m.get("query_seconds"), 2),
                      *((_policy_label(r.policy), _fmt(m.get("search_seconds"), 1)) if searched
                        else ()))
    last = history[-1].metrics if history else {}
    notes = ([f"spent cost {last[COST_METRIC]:g}"] if COST_METRIC in last else []) + (
        [f"wrong answers {last[WRONG_LABELS_METRIC]:g} of {history[-1].n_labeled}"]
        if WRONG_LABELS_METRIC in last else [])
    if notes:
        table.caption = " · ".join(notes)
    return table


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(
        help="Experiment YAML (see experiments/); with --resume it may be left out: the run's "
             "logged config.yaml is used.")] = None,
    set_: SetOption = None,
    tracking_uri: TrackingOption = None,
    resume: Annotated[str | None, typer.Option(
        "--resume", metavar="RUN_ID",
        help="Continue a crashed or interrupted run from its last finished round.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    create_store: CreateStoreOption = False,
    as_json: ResultJsonOption = False,
) -> None:
    """Run one active-learning experiment and log every round to MLflow.

    Example: al4ml run experiments/digits_quickstart.yaml --set query.strategy=margin
    """
    _run(config, set_, tracking_uri, resume, _progress(progress) and not as_json, create_store,
         as_json)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to continue.")],
    tracking_uri: TrackingOption = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    as_json: ResultJsonOption = False,
) -> None:
    """Continue a crashed or interrupted run from its last finished round, with its own config.

    Example: al4ml resume 3f9c... --tracking-uri sqlite:///mlruns.db
    """
    _run(None, None, tracking_uri, run_id, _progress(progress) and not as_json, as_json=as_json)


def _result(run_id: str, uri: str, history: list, journaled: bool) -> dict[str, Any]:
    """What ``--json`` prints for one finished run: its id, store, status and last metrics."""
    last = history[-1] if history else None
    return {"run_id": run_id, "tracking_uri": uri, "status": "JOURNALED" if journaled else "FINISHED",
            "rounds": len(history), "n_labeled": last.n_labeled if last else 0,
            "metrics": dict(last.metrics) if last else {}}


def _run(config: Path | None, set_: list[str] | None, tracking_uri: str | None,
         resume_id: str | None, progress: bool, create_store: bool = False,
         as_json: bool = False) -> None:
    from al4ml.config import build_config, load_config
    from al4ml.errors import ConfigError, RunInterrupted

    try:
        uri = check_store(resolve_tracking_uri(tracking_uri), create=create_store)
        if config is not None:
            cfg = load_config(config, set_)
        elif resume_id is None:
            raise ConfigError("give an experiment YAML, or --resume RUN_ID to continue a run")
        else:
            from al4ml.tracking import get_client, logged_config

            cfg = build_config(logged_config(get_client(uri), resume_id), set_)
        from al4ml.experiment import run_experiment  # torch, MLflow: once config and store are fine
        from al4ml.progress import RoundLines

        lines = () if console.is_terminal or QUIET["on"] or as_json else (RoundLines(console),)
        result = run_experiment(cfg, uri, resume_run_id=resume_id, progress=progress,
                                cohort_observers=lines)
    except Al4mlError as e:
        raise fail(str(e)) from None
    except RunInterrupted as e:
        err_console.print(f"interrupted: finished rounds are in MLflow; continue with al4ml resume "
                          f"{e.run_ids[0]} --tracking-uri {uri}", highlight=False)
        raise typer.Exit(code=130) from None
    except RunFailed as e:
        raise _failed(e, uri) from None
    if as_json:
        print(json.dumps(_result(result.run_id, uri, result.state.history, result.journal is not None)))
    else:
        console.print(rounds_table(result.state.history))
        console.print(f"MLflow run [bold]{result.run_id}[/] in {uri} "
                      f"(browse: al4ml ui --tracking-uri {uri})", highlight=False)
    if result.journal is not None:  # the line saying how to send it was printed at the end
        raise typer.Exit(code=EXIT_JOURNALED)


@app.command()
def baseline(
    config: Annotated[Path, typer.Argument(
        help="Experiment YAML (its budget is ignored), or a grid YAML: one baseline per "
             "distinct training setting and seed of its cells, in the grid's experiment.")],
    set_: SetOption = None,
    tracking_uri: TrackingOption = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    create_store: CreateStoreOption = False,
    as_json: ResultJsonOption = False,
) -> None:
    """Train on the full training split (no active learning): the ceiling for reports.

    Baselines of a grid share everything but query and budget with its cells, so the report
    draws them as the ceiling; ones already FINISHED in the store are skipped.

    Example: al4ml baseline experiments/grid_digits.yaml
    """
    from al4ml.config import load_config
    from al4ml.grid import baseline_configs, is_grid_file, load_grid

    try:
        axes: list[str] = []
        if is_grid_file(config):
            spec = load_grid(config, set_)
            cfgs, axes = baseline_configs(spec), list(spec.axes)
        else:
            cfgs = [load_config(config, set_)]
        uri = check_store(resolve_tracking_uri(tracking_uri), create=create_store)
        from al4ml.experiment import run_baselines  # torch, MLflow: once config and store are fine

        results = run_baselines(cfgs, uri, progress=_progress(progress) and not as_json, axes=axes)
    except Al4mlError as e:
        raise fail(str(e)) from None
    except RunFailed as e:
        raise _failed(e, uri) from None
    if as_json:
        print(json.dumps({"tracking_uri": uri, "skipped": len(cfgs) - len(results), "runs": [
            _result(r.run_id, uri, r.state.history, r.journal is not None) for r in results]}))
        if any(r.journal is not None for r in results):
            raise typer.Exit(code=EXIT_JOURNALED)
        return
    if results:
        console.print(baselines_table(results))
    skipped = len(cfgs) - len(results)
    console.print(f"{len(results)} baseline run(s) in {uri}"
                  + (f"; {skipped} already finished there" if skipped else "")
                  + "".join(f"\n  {r.run_id}" for r in results), highlight=False)
    if any(r.journal is not None for r in results):
        raise typer.Exit(code=EXIT_JOURNALED)


@app.command()
def show(
    config: Annotated[Path, typer.Argument(help="Experiment YAML (see experiments/).")],
    set_: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the resolved config (defaults filled in, overrides applied) without running it.

    Example: al4ml show experiments/breastmnist.yaml --set training.epochs=2
    """
    from al4ml.config import load_config

    try:
        cfg = load_config(config, set_)
    except Al4mlError as e:
        raise fail(str(e)) from None
    print(json.dumps(cfg.dump(), indent=2) if as_json else cfg.to_yaml(), end="\n" if as_json else "")


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
    grid_file: Annotated[Path, typer.Argument(metavar="GRID",
                                              help="Grid YAML (see experiments/grid_*.yaml).")],
    set_: SetOption = None,
    tracking_uri: TrackingOption = None,
    executor: Annotated[Executor, typer.Option(
        help="local: worker processes on this machine; ray: one Ray task per cohort.")] = Executor.local,
    workers: Annotated[int, typer.Option(
        min=1, help="Cohorts running at once (local processes, or CPUs of a local Ray "
                    "instance).")] = 1,
    cohort_size: Annotated[str, typer.Option(
        metavar="N|auto",
        help="Cells trained together as one stacked model (one process, one GPU program). "
             "auto: all cells that share dataset, model, training and budget and fit the "
             "GPU's memory (measured; on CPU: spread over the workers); 1: every cell alone "
             "in its own process.")] = "auto",
    ray_address: Annotated[str | None, typer.Option(
        help="Ray cluster to join (default: start a local instance).")] = None,
    gpus_per_cell: Annotated[float, typer.Option(
        "--gpus-per-cohort", "--gpus-per-cell", min=0,
        help="GPUs each Ray task (one cohort) reserves (fractions share a GPU).")] = 0.0,
    create_store: CreateStoreOption = False,
    as_json: ResultJsonOption = False,
) -> None:
    """Run a strategy x augmentation x seed grid: one MLflow parent run, one child per cell.

    Compatible cells train together as cohorts (--cohort-size); each cell is still its own
    MLflow run. Cells that already FINISHED in this grid (same resolved config) are skipped;
    failed or killed cells resume from their last finished round. A failed cell never stops
    the others.
    """
    from rich.live import Live

    from al4ml.grid import execute, prepare_grid

    try:
        run = prepare_grid(grid_file, set_, tracking_uri, _cohort_size(cohort_size), workers,
                           create_store)
    except Al4mlError as e:
        raise fail(str(e)) from None
    spec, found, parent, todo = run.grid, run.parent, run.parent_run_id, run.todo
    out = err_console if as_json else console  # --json: stdout holds the JSON object alone
    if found.new_version_because:
        out.print(f"grid [bold]{spec.name}[/]: the shared config differs from the last run of "
                      f"this grid ({escape(found.new_version_because)}); this is version "
                      f"{found.version}, a new parent run", highlight=False)
    busy = [st for st in run.statuses if st.action == "busy"]
    for st in busy:
        err_console.print(f"cell {st.cell.label}: {st.error}; left to it (run {st.run_id})",
                          highlight=False, soft_wrap=True)
    cohorts = run.cohorts
    out.print(f"grid [bold]{spec.name}[/] v{found.version}: {len(run.statuses)} cells, "
                  f"{len(run.statuses) - len(todo) - len(busy)} already done, {len(todo)} to run"
                  + (f" ({sum(st.action == 'resume' for st in todo)} resumed) in {len(cohorts)} "
                     f"cohort(s) of {', '.join(str(len(c)) for c in cohorts)}" if todo else "")
                  + f"; parent run {parent}", highlight=False)

    def table() -> Table:
        t = Table(title=f"grid {spec.name}")
        for col in ("cell", "state"):
            t.add_column(col)
        for st in todo:
            state = {None: "running" if st.started else "queued", True: "[green]done[/]",
                     False: f"[red]failed[/] {escape(st.error)}"}
            t.add_row(st.cell.label, state[st.ok])
        done = sum(st.ok is True for st in todo)
        failed = sum(st.ok is False for st in todo)
        running = sum(st.ok is None and st.started for st in todo)
        t.caption = (f"{done} done, {running} running, {failed} failed, "
                     f"{len(todo) - done - failed - running} queued")
        return t

    told: dict[str, bool | None] = {}

    def tell(statuses: list) -> None:
        """Piped output: one line per cell that starts or ends, instead of a live table."""
        for st in statuses:
            state = st.ok if st.ok is not None else (None if st.started else False)
            if st.started and told.get(st.cell.label, "new") != state:
                told[st.cell.label] = state
                word = {None: "running", True: "done"}.get(state, f"failed {st.error}")
                console.print(f"cell {st.cell.label}: {word}", highlight=False, markup=False,
                              soft_wrap=True)

    try:
        if QUIET["on"] or as_json or not todo:
            execute(run, executor.value, workers, ray_address, gpus_per_cell, lambda _: None)
        elif not console.is_terminal:
            execute(run, executor.value, workers, ray_address, gpus_per_cell, tell)
            console.print(table())
        else:
            with Live(table(), console=console, refresh_per_second=4) as live:
                execute(run, executor.value, workers, ray_address, gpus_per_cell,
                        lambda _: live.update(table()))
    except Al4mlError as e:
        raise fail(str(e)) from None
    if as_json:
        print(json.dumps(_grid_result(run)))
    else:
        console.print((f"{len(todo) - len(run.failed)} cells finished, {len(run.failed)} failed"
                       if todo else "nothing to run") + f"; report: al4ml report {parent} "
                      f"--tracking-uri {run.tracking_uri}", highlight=False)
    if not run.closed:
        err_console.print(f"tracking store {run.tracking_uri} did not answer at the end: the grid's "
                          "run stays open; re-run the grid once it answers (finished cells are "
                          "skipped)", highlight=False, markup=False, soft_wrap=True)
    if run.failed and (QUIET["on"] or as_json):  # the live table, which shows why, was not drawn
        for st in run.failed:
            err_console.print(f"cell {st.cell.label} failed: {st.error}", highlight=False,
                              markup=False, soft_wrap=True)
    if any(not st.journaled for st in run.failed):
        raise typer.Exit(code=EXIT_FAILED)
    if run.failed or not run.closed:  # what is missing waits in journals, or for a re-run
        raise typer.Exit(code=EXIT_JOURNALED)


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
        cells.append({"cell": st.cell.label, "run_id": r.info.run_id if r else st.run_id,
                      "status": r.info.status if r else "MISSING", "action": st.action,
                      "error": st.error or None,
                      "n_labeled": r.data.metrics.get("n_labeled") if r else None,
                      "test_accuracy": r.data.metrics.get("test_accuracy") if r else None})
    return {"grid": run.grid.name, "version": run.parent.version, "parent_run_id": run.parent_run_id,
            "tracking_uri": run.tracking_uri, "failed": len(run.failed), "cells": cells}


@app.command()
def report(
    source: Annotated[str, typer.Argument(metavar="GRID_RUN_ID|EXPERIMENT",
                                          help="A grid's parent run id, or an experiment name.")],
    tracking_uri: TrackingOption = None,
    out: Annotated[Path, typer.Option(help="Folder for the report files.")] = Path("report"),
    target: Annotated[float, typer.Option(min=0, max=1, help="Target test accuracy.")] = 0.9,
    x: Annotated[str, typer.Option(
        "--x", help="Budget axis: labels, or cost (the spent cost of runs with oracle.cost).")
    ] = "labels",
    reference: Annotated[list[str] | None, typer.Option(
        metavar="AXIS=VALUE",
        help="Compare each axis against this value instead of its default (strategy random, "
             "augmentation none, else the first value), e.g. --reference augmentation=trivialaugment; "
             "repeatable.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Learning curves with 95 % bands, AULC table, labels to target, paired comparisons.

    Writes report.md, report.html, PNG plots, aulc.csv, comparisons.csv and summary.json
    into --out (for a grid also logged to its parent run); --json prints summary.json.
    """
    from al4ml.errors import ConfigError

    try:
        check_x_axis(x)  # these before MLflow and SciPy are imported: no seconds lost
        references = dict(_assignment(r, "--reference") for r in reference or [])
        uri = existing_store(resolve_tracking_uri(tracking_uri))
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: is a file; the report needs a folder (new or existing)")
        from al4ml.report import build_report
        from al4ml.tracking import get_client

        md = build_report(get_client(uri), source, out, target, x=x, references=references)
    except Al4mlError as e:
        raise fail(str(e)) from None
    if as_json:
        print((out / "summary.json").read_text())
    else:
        console.print(f"wrote {md} (and report.html, PNG plots, aulc.csv, comparisons.csv, "
                      f"summary.json) in {out}", highlight=False)


@app.command("runs")
def runs_(
    experiment: Annotated[str | None, typer.Argument(
        help="An experiment name (default: every experiment).")] = None,
    tracking_uri: TrackingOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the runs of a store, newest first: the id `al4ml resume` and `al4ml report` take,
    name, role, status, labels reached and last test accuracy.

    Example: al4ml runs digits_quickstart --tracking-uri sqlite:///mlruns.db
    """
    from al4ml.errors import ConfigError

    try:
        uri = existing_store(resolve_tracking_uri(tracking_uri))
        from al4ml.tracking import get_client

        client = get_client(uri)
        experiments = {e.experiment_id: e.name for e in client.search_experiments()}
        if experiment is not None and experiment not in experiments.values():
            raise ConfigError(f"no experiment {experiment!r} in {uri}; it has: "
                              f"{', '.join(sorted(experiments.values())) or 'none'}")
        ids = [i for i, name in experiments.items() if experiment in (None, name)]
        found = client.search_runs(ids, order_by=["attributes.start_time DESC"], max_results=limit)
    except Al4mlError as e:
        raise fail(str(e)) from None
    rows = [{"run_id": r.info.run_id, "experiment": experiments.get(r.info.experiment_id, "?"),
             "name": r.info.run_name, "role": r.data.tags.get("al4ml.role", ""),
             "status": r.info.status, "labels": r.data.metrics.get("n_labeled"),
             "test_accuracy": r.data.metrics.get("test_accuracy")} for r in found]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"runs in {uri}" + (f", experiment {experiment}" if experiment else ""))
    for col in ("run id", "experiment", "name", "role", "status", "labels", "test acc"):
        table.add_column(col, no_wrap=col == "run id")
    for r in rows:
        table.add_row(r["run_id"], r["experiment"], r["name"], r["role"], r["status"],
                      _fmt(r["labels"], 0), _fmt(r["test_accuracy"]))
    console.print(table)


@app.command()
def sync(
    journals: Annotated[list[Path], typer.Argument(
        metavar="JOURNAL...",
        help="A run's journal (.al4ml/journal/<run id>) or a folder of journals.")],
) -> None:
    """Send the writes runs kept in their journals while the tracking store was unreachable.

    Each journal remembers its store and run; its writes are sent in order, none twice, and
    the journal is removed once everything arrived.

    Example: al4ml sync .al4ml/journal
    """
    from al4ml.errors import ConfigError

    found = [j for path in journals
             for j in ([path] if (path / "meta.json").is_file() else sorted(path.glob("*/meta.json")))]
    found = [j.parent if j.name == "meta.json" else j for j in found]
    try:
        if not found:
            raise ConfigError(f"no run journal in {', '.join(map(str, journals))} (a journal is a "
                              "folder .al4ml/journal/<run id> holding meta.json)")
        from al4ml.journal import Journal
        from al4ml.tracking import get_client

        for folder in found:
            journal = Journal(folder)
            sent = journal.replay(get_client(journal.tracking_uri))
            console.print(f"run {journal.run_id}: {sent} write(s) sent to {journal.tracking_uri}",
                          highlight=False)
    except Al4mlError as e:
        raise fail(str(e)) from None


class Kind(str, Enum):
    """What ``al4ml list`` can show."""

    strategies = "strategies"
    augmentations = "augmentations"
    datasets = "datasets"
    models = "models"
    searches = "searches"


@app.command("list")
def list_(kind: Annotated[Kind | None, typer.Argument(
        help="strategies, augmentations, datasets, models or searches (default: all).")] = None,
        as_json: JsonOption = False) -> None:
    """List what is registered: strategies, augmentations, datasets, models, augmentation
    search methods (augmentation.search.method), and their options."""
    from al4ml.augment import AUGMENTATIONS
    from al4ml.data import DATASETS
    from al4ml.models import MODELS
    from al4ml.query import STRATEGIES
    from al4ml.search import SEARCHES

    registries = {Kind.strategies: STRATEGIES, Kind.augmentations: AUGMENTATIONS,
                  Kind.datasets: DATASETS, Kind.models: MODELS, Kind.searches: SEARCHES}
    kinds = [kind] if kind else list(Kind)
    if as_json:
        print(json.dumps({k.value: [
            {"name": e.name, "description": e.description,
             "options": {name: {"default": None if p.default is p.empty else p.default,
                                "values": e.describe(name)} for name, p in e.options.items()},
             **({"needs": list(e.meta["needs"])} if "needs" in e.meta else {}),
             **({"labels": list(e.meta["tasks"])} if "tasks" in e.meta else {})}
            for e in registries[k].entries()] for k in kinds}, indent=2, default=str))
        return
    for k in kinds:
        table = Table(title=k.value)
        table.add_column("name", style="bold")
        table.add_column("description")
        table.add_column("options")
        labels = k == Kind.strategies
        if labels:
            table.add_column("labels")
        for entry in registries[k].entries():
            table.add_row(entry.name, entry.description, ", ".join(entry.options),
                          *([", ".join(entry.meta["tasks"])] if labels else []))
        console.print(table)


@app.command()
def ui(tracking_uri: TrackingOption = None,
       port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000,
       host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0: every interface).")] = "127.0.0.1",
       allowed_hosts: Annotated[str | None, typer.Option(
           help="Host headers the UI accepts, comma-separated (needed with --host 0.0.0.0 when "
                "browsers reach it by a name or an outside address).")] = None) -> None:
    """Start the MLflow UI on the same store `al4ml run` logs to (Ctrl+C or SIGTERM stops it).

    For a tracking server (http/https) the server is the UI: its links are printed and
    nothing is started.
    """
    import signal
    import socket
    import time

    try:
        uri = existing_store(resolve_tracking_uri(tracking_uri))
        if uri.startswith(("http://", "https://")):
            check_store(uri)  # one line if it does not answer
            _print_links(uri, uri.rstrip("/"), f"{uri} is a tracking server, and its UI: nothing "
                                               "to start")
            return
        with socket.socket() as probe:
            # As the server will bind: a listener makes the port busy, a closed connection
            # still in TIME_WAIT (a UI stopped a moment ago) does not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as e:
                raise fail(f"port {port} on {host} is not free ({e.strerror}); pass another "
                           "--port") from None
    except Al4mlError as e:
        raise fail(str(e)) from None
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host,
           "--port", str(port), *(["--allowed-hosts", allowed_hosts] if allowed_hosts else [])]
    # MLflow's server also starts a job runner for its GenAI features (eight more processes,
    # ~20 s of CPU to start); browsing runs needs none of it. Set the variable to keep it.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    proc = subprocess.Popen(cmd, start_new_session=True, env=env)
    stopping: list[float] = []

    def stop(*_: object) -> None:  # signal handler: only signal, never wait (the main loop does)
        stopping.append(time.monotonic())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    base = f"http://{shown}:{port}"
    _print_links(uri, base, f"MLflow UI for {uri} on {base} (Ctrl+C stops it)")
    while True:
        try:
            code = proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if stopping and time.monotonic() - stopping[0] > 10:  # it ignored SIGTERM
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        except KeyboardInterrupt:
            stop()
    raise typer.Exit(0 if stopping else code)


def _print_links(uri: str, base: str, headline: str) -> None:
    """The UI's address and, per experiment, its runs and learning-curve links."""
    from al4ml.tracking import get_client
    from al4ml.ui import store_links

    console.print(headline, highlight=False, soft_wrap=True)
    for links in store_links(get_client(uri), base):
        console.print(f"{links.name}\n  runs    {links.runs}", highlight=False, soft_wrap=True)
        if links.curves:
            console.print(f"  curves  {links.curves}\n          ({links.curves_of}: test accuracy "
                          "against labels)", highlight=False, soft_wrap=True)
    sys.stdout.flush()


def _one_line_warnings() -> None:
    """al4ml's own warnings as one line on stderr (``warning: ...``); others as Python shows them."""
    import warnings

    from al4ml.errors import Al4mlWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        if issubclass(category, Al4mlWarning):
            err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False,
                              soft_wrap=True)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main() -> None:
    """Console-script entry point.

    Typer's own usage errors (a bad choice, an unknown option, a missing argument) are printed
    as the one ``error:`` line every other bad input gets, naming the command whose ``--help``
    lists the valid options, with exit code 2; typer would print a usage block and a box.
    """
    import al4ml.fastexit  # noqa: F401  (about 1 s less at the end of every command)

    _one_line_warnings()
    args = sys.argv[1:]
    if any(a in QUIET_FLAGS for a in args[1:]):  # -q after the command means what it means before
        args = ["--quiet", *(a for a in args if a not in QUIET_FLAGS)]
    try:
        code = app(args=args, prog_name="al4ml", standalone_mode=False)
    except typer.TyperException as e:  # click's ClickException and its usage errors
        if type(e).__name__ != "NoArgsIsHelpError":  # the help is already printed
            message = e.format_message().replace("Value error, ", "").rstrip(".")
            errors = getattr(e.__cause__, "errors", None)  # typer's pydantic coercion
            if callable(errors) and repr(got := errors()[0].get("input")) not in message:
                message += f", not {got!r}"
            ctx = getattr(e, "ctx", None)
            if ctx is not None:
                message += f" (see '{ctx.command_path} --help')"
            err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                              soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Abort:
        err_console.print("aborted", highlight=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
