"""What a process costs before it trains: starting grid workers, spawned vs forked from a server.

Side by side in one run: ``--workers`` worker processes started the way ``al4ml grid``
starts them (a fork server that imported al4ml, torch and MLflow once) and the way it used
to (``spawn``: every worker imports them itself), each worker importing the modules a cell
needs and loading digits; then the same import and load in a fresh interpreter, as
``al4ml run`` pays it. Prints wall times and the ratio.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CELL_IMPORTS = (
    "import al4ml.experiment, al4ml.grid\nfrom al4ml.data import create_dataset\ncreate_dataset('digits')"
)


def cell_start() -> None:
    """What a worker does before its first training step (imports, data)."""
    exec(CELL_IMPORTS)  # the same statements the fresh interpreter runs


def start_workers(ctx: mp.context.BaseContext, n: int) -> float:
    """Seconds until ``n`` workers started by ``ctx`` have imported and loaded their data."""
    start = time.perf_counter()
    procs = [ctx.Process(target=cell_start) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=4, help="worker processes per way (4)")
    args = ap.parse_args()
    from al4ml.grid import worker_context

    forked = worker_context()
    forked_first = start_workers(forked, 1)  # starts the fork server (its imports, once)
    forked_s = start_workers(forked, args.workers)
    spawned_s = start_workers(mp.get_context("spawn"), args.workers)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", CELL_IMPORTS], check=True)
    fresh = time.perf_counter() - start
    print(f"{args.workers} grid workers, each importing al4ml + torch + MLflow and loading digits")
    print(f"  fork server (first use, its own imports) {forked_first:7.2f} s")
    print(f"  forked from the server                   {forked_s:7.2f} s")
    print(f"  spawned                                  {spawned_s:7.2f} s")
    print(f"  spawned / forked                         {spawned_s / forked_s:7.1f}x")
    print(f"one fresh interpreter (al4ml run)          {fresh:7.2f} s")


if __name__ == "__main__":
    main()
