"""The CLI in subprocesses, and waiting for what a running process does (never for time).

End-to-end tests synchronise on events a run produces (a round in the store, a journal file,
a held query of :class:`Gate`) and fail with a message when an event does not come within a
generous deadline; none of them asserts how long something took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).resolve().parent / "plugins"
T = TypeVar("T")


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without a tracking URI (every test names its own store)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["COLUMNS"] = "200"
    return {**env, **(extra or {})}


HANG = 3600.0
"""Seconds after which a command or an awaited event counts as hung: a guard against hangs,
never a speed bound (a Ray grid took over 15 min to start its tasks with three suites and two
busy loops sharing 2 cores; such a run is slow, not wrong)."""


def al4ml(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = HANG
) -> subprocess.CompletedProcess:
    """Run ``al4ml ARGS`` to its end in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "al4ml.cli", *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``al4ml ARGS`` in the background, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "al4ml.cli", *args],
        cwd=cwd,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


HEAVY = ("torch", "torchvision", "mlflow", "sklearn", "scipy", "matplotlib")


def al4ml_imports(*args: str, cwd: Path = REPO) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``al4ml ARGS`` in a fresh interpreter; also say which of :data:`HEAVY` it imported.

    How fast a command answers depends on the machine; what it imported before answering
    does not, and is what makes an error line come at once (torch and MLflow take seconds).
    """
    code = (
        "import json, sys\nfrom al4ml.cli import main\n"
        f"sys.argv = ['al4ml', *{list(args)!r}]\n"
        "try:\n    main()\nfinally:\n"
        f"    print('\\nIMPORTED ' + json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=HANG
    )
    head, _, tail = proc.stdout.rpartition("\nIMPORTED ")
    assert tail, proc.stdout + proc.stderr
    proc.stdout = head
    return proc, json.loads(tail)


def wait_until(check: Callable[[], T], what: str, timeout: float = HANG, every: float = 0.3) -> T:
    """Poll ``check`` until it returns something truthy, and return that.

    Raises:
        AssertionError: naming ``what`` when it did not happen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if value := check():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(every)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except OSError:
        return False


class Gate:
    """Holds runs that query with the ``gated`` test strategy (``tests/plugins/al4ml_gate.py``).

    ``hold(c)`` before a run starts makes every process's ``c``-th query wait there;
    ``wait_held(c, count)`` returns the pids of the processes that reached it;
    ``release(c)`` lets them go on. A run is thus in a known state for as long as a test
    needs, however fast or slow the machine.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}
        self.sets = ["--set", "query.strategy=gated", "--set", f"query.params.gate={folder}"]

    def hold(self, *calls: int) -> None:
        for c in calls:
            (self.folder / f"hold-{c}").touch()

    def fail(self, *calls: int) -> None:
        """Make query ``c`` raise (a run that fails mid-run), until :meth:`heal`."""
        for c in calls:
            (self.folder / f"fail-{c}").touch()

    def heal(self, *calls: int) -> None:
        for c in calls:
            (self.folder / f"fail-{c}").unlink(missing_ok=True)

    def release(self, *calls: int) -> None:
        for c in calls:
            (self.folder / f"hold-{c}").unlink(missing_ok=True)

    def held(self, call: int) -> list[int]:
        """Pids of the processes that reached query ``call`` while it was held."""
        return sorted(int(p.name.rsplit("-", 1)[1]) for p in self.folder.glob(f"held-{call}-*"))

    def wait_held(self, call: int, count: int = 1, timeout: float = HANG) -> list[int]:
        def reached() -> list[int]:
            pids = self.held(call)
            return pids if len(pids) >= count else []

        return wait_until(reached, f"{count} process(es) holding at query {call}", timeout)
