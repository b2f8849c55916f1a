"""Cohorts in worker processes: the task a worker runs, process start and supervision
(forkserver, parent death, pid reuse), and who still writes a run."""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from al4ml.config import ExperimentConfig
from al4ml.errors import Al4mlError
from al4ml.runs import (
    CELL_TAG,
    COLOR_TAG,
    HOST_TAG,
    PID_TAG,
)

if TYPE_CHECKING:  # MLflow takes seconds to import: not needed to validate a grid file
    pass


from al4ml.grid.versions import CellStatus, pid_alive


def run_cohort_payload(
    cells: list[tuple[dict[str, Any], dict[str, Any], dict[str, str], str | None]],
    tracking_uri: str,
    parent_id: str,
    threads: int,
) -> list[bool]:
    """Run cells as one cohort (in a worker process or a Ray task); True per finished cell.

    Args:
        cells: Per cell: resolved config (JSON form), axis values, tags (cell key, colour),
            run to resume.
        tracking_uri: MLflow store.
        parent_id: The grid's parent run.
        threads: CPU threads for torch.
    """
    import torch

    from al4ml.experiment import CellSpec, run_cohort

    torch.set_num_threads(threads)
    pid, host = str(os.getpid()), socket.gethostname()
    specs = [
        CellSpec(
            ExperimentConfig.model_validate(config),
            resume,
            "cell",
            axes,
            {**tags, PID_TAG: pid, HOST_TAG: host},
        )
        for config, axes, tags, resume in cells
    ]
    results = run_cohort(specs, tracking_uri, parent_run_id=parent_id, progress=False)
    return [r.error is None for r in results]


def die_with_parent(parent: int) -> None:
    """End this worker when the grid process ``parent`` that asked for it dies (even by SIGKILL).

    A daemon thread waits on the grid process: on a ``pidfd`` (Linux 5.3+), which becomes
    readable the moment the process is gone, elsewhere by looking twice a second. The
    worker's own parent may be a fork server that outlives the grid, so it is the grid process
    that is watched. Either way a re-run of the grid never meets a stale writer on its cells.
    """

    def watch() -> None:
        try:
            fd = os.pidfd_open(parent)
        except (AttributeError, OSError):  # no pidfd here, or the grid is already gone
            while pid_alive(parent):
                time.sleep(0.5)
        else:
            select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="al4ml-parent-watch").start()


def worker_context(augmenting: bool = True) -> mp.context.SpawnContext | mp.context.ForkServerContext:
    """How grid workers start: forked from a server process that imported torch, MLflow and
    al4ml once (``forkserver``, where the platform has it), so a worker starts in milliseconds
    instead of importing for seconds (7 s on 2 CPU cores), and never inherits the grid
    process's threads or CUDA state; ``spawn`` elsewhere.

    The server also imports what every worker would import on its own later: ``torch._dynamo``
    (torch's optimizers import it when the first one is built: 1.1 s on 2 cores) and, when
    ``augmenting``, torchvision's functional ops (equalize: 1.3 s); and it ends without the
    interpreter's last collections (:mod:`al4ml.fastexit`; 1.8 s that a caller reading the
    grid's output waits for).
    """
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(
        [
            "al4ml.fastexit",
            "al4ml.grid",
            "al4ml.experiment",
            "torch._dynamo",
            *(["torchvision.transforms.v2.functional"] * augmenting),
        ]
    )
    return ctx


def _cohort_process(args: tuple, parent: int) -> None:
    die_with_parent(parent)
    try:
        run_cohort_payload(*args)
    except Al4mlError as e:  # e.g. the store stopped answering before its runs existed
        print(f"al4ml: a cohort could not run: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


Listener = Callable[[list[CellStatus]], None]


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of ``workers`` worker processes: the CPUs this process may use,
    shared out, at least one each.

    The CPUs are ``OMP_NUM_THREADS`` when it is set, else this process's CPU affinity (which
    ``taskset`` or a container's cpuset narrows; ``os.cpu_count`` would not see it). More torch
    threads than CPUs make them wait on one another: on a busy 2-core machine a run with two
    threads took twice as long as with one.
    """
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        cpus = int(given)
    elif hasattr(os, "sched_getaffinity"):
        cpus = len(os.sched_getaffinity(0))
    else:
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, workers))


def _payload(
    cohort: list[CellStatus],
) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, str], str | None]]:
    """A cohort as plain data a worker process or a Ray task takes (:func:`run_cohort_payload`)."""
    return [
        (st.cell.config.dump(), st.cell.values, {CELL_TAG: st.cell.key, COLOR_TAG: st.cell.color}, st.run_id)
        for st in cohort
    ]
