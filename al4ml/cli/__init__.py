"""The ``al4ml`` command line (typer + rich).

Bad input (config keys and values, names, files) ends with one line on stderr naming the
bad value and the valid choices, and exit code 2 — never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from al4ml.cli import browse, grid, run  # noqa: F401  (register the commands)
from al4ml.cli.app import QUIET_FLAGS, Command, app, err_console
from al4ml.cli.tables import baselines_table, rounds_table

__all__ = ["app", "baselines_table", "main", "rounds_table"]

ORDER = ("run", "resume", "baseline", "show", "grid", "report", "runs", "sync", "list", "ui")
"""The commands in the order ``al4ml --help`` lists them: running first, then reading."""
app.registered_commands.sort(key=lambda c: ORDER.index(c.name or getattr(c.callback, "__name__", "")))
for _command in app.registered_commands:
    _command.cls = Command


def _one_line_warnings() -> None:
    """al4ml's own warnings as one line on stderr (``warning: ...``); others as Python shows them."""
    import warnings

    from al4ml.errors import Al4mlWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        if issubclass(category, Al4mlWarning):
            err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
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
            err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Abort:
        err_console.print("aborted", highlight=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
