"""Torch threads on a shared CPU: one thread per process against one per core, idle and busy.

Runs the digits quickstart (``al4ml run``, a fresh interpreter, a throwaway store) with
``OMP_NUM_THREADS=1`` and with one thread per core, first on an otherwise idle machine, then
beside one busy process per core (``while True: pass``). Prints wall times and the ratios.
Why it matters: a grid's workers, and the test suite's processes, share the cores; threads
that outnumber the cores they get wait on one another at every parallel region.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_seconds(threads: int, config: Path) -> float:
    """Wall seconds of ``al4ml run config`` with ``threads`` torch threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "al4ml.cli",
                "-q",
                "run",
                str(config),
                "--tracking-uri",
                f"sqlite:///{tmp}/m.db",
            ],
            cwd=REPO,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=REPO / "experiments" / "digits_quickstart.yaml")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    rows = []
    for load in ("idle", "busy"):
        n_busy = cores if load == "busy" else 0
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n_busy)]
        try:
            rows.append((load, run_seconds(1, args.config), run_seconds(cores, args.config)))
        finally:
            for p in busy:
                p.kill()
                p.wait()
    print(f"digits quickstart (al4ml run), {cores} cores; wall seconds")
    print(f"  {'machine':<36} {'1 thread':>9} {f'{cores} threads':>10} {'ratio':>6}")
    for load, one, many in rows:
        label = "idle" if load == "idle" else f"beside {cores} busy processes (one per core)"
        print(f"  {label:<36} {one:9.1f} {many:10.1f} {many / one:6.2f}")


if __name__ == "__main__":
    main()
