"""Errors that reach the user as one line, and the exit codes a script can trust.

Exit codes of every al4ml command: :data:`EXIT_OK` only when every run it made is FINISHED
in the store; :data:`EXIT_FAILED` when a run failed (it can be resumed);
:data:`EXIT_BAD_INPUT` for bad input (nothing was run); :data:`EXIT_JOURNALED` when runs
ended but writes wait in their journal for ``al4ml sync``; 130 after Ctrl+C.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_JOURNALED = 0, 1, 2, 3


class Al4mlError(Exception):
    """Base class of user-facing errors: the message is a complete, single-line explanation."""


class ConfigError(Al4mlError):
    """A config key or value is unknown or invalid."""


class DataError(Al4mlError):
    """A dataset cannot be loaded (missing file, bad layout)."""


class OracleError(Al4mlError):
    """The oracle was asked for a label it must not give (repeat, out of range)."""


class IncompleteRun(RuntimeError):
    """A run's store lacks rounds the run produced: it stays open (resumable), never FINISHED."""


class RunFailed(RuntimeError):
    """A run stopped on an error; what it logged stays, and it can be resumed.

    Args:
        run_id: The MLflow run (marked FAILED, its error in tag ``al4ml.error``).
        line: The error, as one line.
    """

    def __init__(self, run_id: str, line: str) -> None:
        super().__init__(f"run {run_id} failed: {line}")
        self.run_id = run_id


class Al4mlWarning(UserWarning):
    """Something the user should know that does not stop the run (the CLI prints one line)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl+C (or SIGINT) stopped runs; their finished rounds are stored and they can resume.

    Args:
        run_ids: The MLflow runs that were stopped.
    """

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__(", ".join(run_ids))
        self.run_ids = run_ids
