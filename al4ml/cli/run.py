"""``al4ml run``, ``resume``, ``baseline`` and ``show``: one experiment, its full-data
ceilings, its resolved config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from al4ml.cli.app import (
    QUIET,
    CreateStoreOption,
    JsonOption,
    ResultJsonOption,
    SetOption,
    TrackingOption,
    _failed,
    _progress,
    app,
    console,
    err_console,
    fail,
)
from al4ml.cli.tables import baselines_table, rounds_table
from al4ml.errors import EXIT_JOURNALED, Al4mlError, RunFailed
from al4ml.store import check_store, resolve_tracking_uri


@app.command()
def run(
    config: Annotated[
        Path | None,
        typer.Argument(
            help="Experiment YAML (see experiments/); with --resume it may be left out: the run's "
            "logged config.yaml is used."
        ),
    ] = None,
    set_: SetOption = None,
    tracking_uri: TrackingOption = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            metavar="RUN_ID",
            help="Continue a crashed or interrupted run from its last finished round.",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    create_store: CreateStoreOption = False,
    as_json: ResultJsonOption = False,
) -> None:
    """Run one active-learning experiment and log every round to MLflow.

    Example: al4ml run experiments/digits_quickstart.yaml --set query.strategy=margin
    """
    _run(config, set_, tracking_uri, resume, _progress(progress) and not as_json, create_store, as_json)


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
    return {
        "run_id": run_id,
        "tracking_uri": uri,
        "status": "JOURNALED" if journaled else "FINISHED",
        "rounds": len(history),
        "n_labeled": last.n_labeled if last else 0,
        "metrics": dict(last.metrics) if last else {},
    }


def _run(
    config: Path | None,
    set_: list[str] | None,
    tracking_uri: str | None,
    resume_id: str | None,
    progress: bool,
    create_store: bool = False,
    as_json: bool = False,
) -> None:
    from al4ml.config import build_config, load_config
    from al4ml.errors import ConfigError, RunInterrupted

    try:
        uri = check_store(resolve_tracking_uri(tracking_uri), create=create_store)
        if config is not None:
            cfg = load_config(config, set_)
        elif resume_id is None:
            raise ConfigError("give an experiment YAML, or --resume RUN_ID to continue a run")
        else:
            from al4ml.tracking import get_client, run_config_tree

            cfg = build_config(run_config_tree(get_client(uri), resume_id), set_)
        from al4ml.experiment import run_experiment  # torch, MLflow: once config and store are fine
        from al4ml.progress import RoundLines

        lines = () if console.is_terminal or QUIET["on"] or as_json else (RoundLines(console),)
        result = run_experiment(cfg, uri, resume_run_id=resume_id, progress=progress, cohort_observers=lines)
    except Al4mlError as e:
        raise fail(str(e)) from None
    except RunInterrupted as e:
        err_console.print(
            f"interrupted: finished rounds are in MLflow; continue with al4ml resume "
            f"{e.run_ids[0]} --tracking-uri {uri}",
            highlight=False,
        )
        raise typer.Exit(code=130) from None
    except RunFailed as e:
        raise _failed(e, uri) from None
    if as_json:
        print(json.dumps(_result(result.run_id, uri, result.history, result.journal is not None)))
    else:
        console.print(rounds_table(result.history))
        console.print(
            f"MLflow run [bold]{result.run_id}[/] in {uri} (browse: al4ml ui --tracking-uri {uri})",
            highlight=False,
        )
    if result.journal is not None:  # the line saying how to send it was printed at the end
        raise typer.Exit(code=EXIT_JOURNALED)


@app.command()
def baseline(
    config: Annotated[
        Path,
        typer.Argument(
            help="Experiment YAML (its budget is ignored), or a grid YAML: one baseline per "
            "distinct training setting and seed of its cells, in the grid's experiment."
        ),
    ],
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
        print(
            json.dumps(
                {
                    "tracking_uri": uri,
                    "skipped": len(cfgs) - len(results),
                    "runs": [_result(r.run_id, uri, r.history, r.journal is not None) for r in results],
                }
            )
        )
        if any(r.journal is not None for r in results):
            raise typer.Exit(code=EXIT_JOURNALED)
        return
    if results:
        console.print(baselines_table(results))
    skipped = len(cfgs) - len(results)
    console.print(
        f"{len(results)} baseline run(s) in {uri}"
        + (f"; {skipped} already finished there" if skipped else "")
        + "".join(f"\n  {r.run_id}" for r in results),
        highlight=False,
    )
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
