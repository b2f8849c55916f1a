"""Errors that reach the user as one line (the CLI prints them and exits with code 2)."""

from __future__ import annotations


class Al4mlError(Exception):
    """Base class of user-facing errors: the message is a complete, single-line explanation."""


class ConfigError(Al4mlError):
    """A config key or value is unknown or invalid."""


class DataError(Al4mlError):
    """A dataset cannot be loaded (missing file, bad layout)."""


class OracleError(Al4mlError):
    """The oracle was asked for a label it must not give (repeat, out of range)."""


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
