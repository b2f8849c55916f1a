"""The ``al4ml`` application: its options, consoles and the one-line error for bad input."""

from __future__ import annotations

import logging
import math
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from al4ml.errors import EXIT_BAD_INPUT, EXIT_FAILED, RunFailed


def _flags_as_flags(params: list[Any]) -> list[Any]:
    """On/off options (``--json``, ``--progress/--no-progress``, ``--help``) with no type in
    help: typer would show each as ``<bool>``, as if it took a value."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """A command whose help shows flags as flags (:func:`_flags_as_flags`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_as_flags(super().get_params(ctx))


class Group(TyperGroup):
    """``al4ml`` itself, its flags shown as flags (its commands are :class:`Command`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_as_flags(super().get_params(ctx))


app = typer.Typer(
    cls=Group,
    help="al4ml: simulate active learning for image classification. Compare query strategies "
    "and training augmentations by how many labels they need; every round is logged to "
    "MLflow (step = number of labels).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
# Piped output is not wrapped at 80 columns (a printed command or URI stays one line).
console = Console(soft_wrap=not sys.stdout.isatty())
err_console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())
QUIET = {"on": False}
QUIET_FLAGS = ("-q", "--quiet")

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a config value, e.g. --set budget.total=60 --set query.strategy=margin "
        "(values are parsed as YAML; repeatable).",
    ),
]
TrackingOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        "-t",
        envvar="MLFLOW_TRACKING_URI",
        metavar="URI",
        help="MLflow store. Default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns.db in the "
        "current directory.",
    ),
]

CreateStoreOption = Annotated[
    bool,
    typer.Option(
        "--create-store",
        help="Make the tracking store's folder if it does not exist (else a "
        "missing folder is refused: a mistyped path would start a new store).",
    ),
]


def _version(value: bool) -> None:
    if value:
        from al4ml import __version__

        print(f"al4ml {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print al4ml's version and exit."),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress bars and no MLflow INFO lines (results and errors "
            "only); also accepted after the command.",
        ),
    ] = False,
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
ResultJsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="No tables or progress: print one JSON object (run ids, status, final "
        "metrics) as the only output on stdout.",
    ),
]


def fail(message: str) -> typer.Exit:
    """Print one error line to stderr and return the exit (code 2) to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=EXIT_BAD_INPUT)


def _failed(error: RunFailed, uri: str) -> typer.Exit:
    """One line for a run that stopped on an error, with the command that continues it."""
    err_console.print(
        f"[bold red]error:[/] {escape(str(error))}; its finished rounds are in MLflow: "
        f"continue with al4ml resume {error.run_id} --tracking-uri {uri}",
        highlight=False,
        soft_wrap=True,
    )
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
