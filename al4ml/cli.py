"""The ``al4ml`` command line (typer + rich).

Bad input (config keys and values, names, files) ends with one line on stderr naming the
bad value and the valid choices, and exit code 2 — never a traceback.
"""

from __future__ import annotations

import math
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from al4ml.errors import Al4mlError

app = typer.Typer(
    help="al4ml: simulate active learning for image classification. Compare query strategies "
         "and training augmentations by how many labels they need; every round is logged to "
         "MLflow (step = number of labels).",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    rich_markup_mode="rich")
console = Console()
err_console = Console(stderr=True)

SetOption = Annotated[list[str] | None, typer.Option(
    "--set", "-s", metavar="KEY=VALUE",
    help="Override a config value, e.g. --set budget.total=60 --set query.strategy=margin "
         "(values are parsed as YAML; repeatable).")]
TrackingOption = Annotated[str | None, typer.Option(
    "--tracking-uri", "-t", envvar="MLFLOW_TRACKING_URI",
    help="MLflow store. Default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns.db in the "
         "current directory.")]


def fail(message: str) -> typer.Exit:
    """Print one error line to stderr and return the exit (code 2) to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def rounds_table(history: list) -> Table:
    """A rich table with one row per round."""
    table = Table(title="Learning curve (one row per round)")
    for col in ("round", "labels", "test acc", "test AUC", "val acc", "train loss", "train s",
                "query s"):
        table.add_column(col, justify="right")
    for r in history:
        m = r.metrics
        table.add_row(str(r.round), str(r.n_labeled), _fmt(m.get("test_accuracy")),
                      _fmt(m.get("test_auc")), _fmt(m.get("val_accuracy")),
                      _fmt(m.get("train_loss")), _fmt(m.get("train_seconds"), 2),
                      _fmt(m.get("query_seconds"), 2))
    return table


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Experiment YAML (see experiments/).")],
    set_: SetOption = None,
    tracking_uri: TrackingOption = None,
    resume: Annotated[str | None, typer.Option(
        "--resume", metavar="RUN_ID",
        help="Continue a crashed or interrupted run from its last finished round.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Run one active-learning experiment and log every round to MLflow.

    Example: al4ml run experiments/digits_quickstart.yaml --set query.strategy=margin
    """
    from al4ml.config import load_config
    from al4ml.experiment import run_experiment
    from al4ml.tracking import resolve_tracking_uri

    try:
        cfg = load_config(config, set_)
        uri = resolve_tracking_uri(tracking_uri)
        result = run_experiment(cfg, uri, resume_run_id=resume, progress=progress)
    except Al4mlError as e:
        raise fail(str(e)) from None
    except KeyboardInterrupt:
        err_console.print("interrupted: finished rounds are in MLflow; continue with "
                          f"al4ml run {config} --resume <run id>")
        raise typer.Exit(code=130) from None
    console.print(rounds_table(result.state.history))
    console.print(f"MLflow run [bold]{result.run_id}[/] in {uri} "
                  f"(browse: al4ml ui --tracking-uri {uri})", highlight=False)


class Kind(str, Enum):
    """What ``al4ml list`` can show."""

    strategies = "strategies"
    augmentations = "augmentations"
    datasets = "datasets"
    models = "models"


@app.command("list")
def list_(kind: Annotated[Kind | None, typer.Argument(
        help="strategies, augmentations, datasets or models (default: all).")] = None) -> None:
    """List what is registered: strategies, augmentations, datasets, models."""
    from al4ml.augment import AUGMENTATIONS
    from al4ml.data import DATASETS
    from al4ml.models import MODELS
    from al4ml.query import STRATEGIES

    registries = {Kind.strategies: STRATEGIES, Kind.augmentations: AUGMENTATIONS,
                  Kind.datasets: DATASETS, Kind.models: MODELS}
    for k in [kind] if kind else list(Kind):
        table = Table(title=k.value)
        table.add_column("name", style="bold")
        table.add_column("description")
        for entry in registries[k].entries():
            table.add_row(entry.name, entry.description)
        console.print(table)


@app.command()
def ui(tracking_uri: TrackingOption = None,
       port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000,
       host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1") -> None:
    """Start the MLflow UI on the same store `al4ml run` logs to."""
    from al4ml.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    console.print(f"MLflow UI for {uri} on http://{host}:{port} (Ctrl+C stops it)")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host,
           "--port", str(port)]
    try:
        raise typer.Exit(subprocess.call(cmd))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
