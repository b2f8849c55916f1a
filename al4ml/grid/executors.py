"""Running a grid's cohorts: local worker processes or Ray tasks, each cohort's outcome read
back from the store, and the parent run closed."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from al4ml.errors import ConfigError
from al4ml.grid.versions import CellStatus, child_runs
from al4ml.grid.workers import (
    Listener,
    _cohort_process,
    _payload,
    run_cohort_payload,
    threads_per_worker,
    worker_context,
)
from al4ml.runs import (
    CELL_TAG,
    ERROR_TAG,
)

if TYPE_CHECKING:  # MLflow takes seconds to import: not needed to validate a grid file
    from mlflow.tracking import MlflowClient


AWAY = (
    "outcome unknown: the tracking store did not answer when its worker ended (what the "
    "worker could not send waits in {journal}: al4ml sync it, then re-run the grid, which "
    "skips finished cells)"
)
"""Why a cell failed when the store was away as its cohort ended (its runs may be FINISHED
once the journals are sent)."""


def _outcomes(tracking_uri: str, parent_id: str, cohort: list[CellStatus], error: str) -> None:
    """A finished cohort process: each cell is done if its run FINISHED, else failed (why:
    the run's ``al4ml.error`` tag, else ``error``, the process's own end, else its status).

    A store that does not answer fails the cohort's cells with :data:`AWAY` (after the
    process's own end, if it failed) instead of stopping the grid: the other cohorts go on,
    journaling.
    """
    from al4ml.journal import JOURNAL_DIR, unreachable
    from al4ml.tracking import get_client

    try:
        runs = {r.data.tags.get(CELL_TAG): r for r in child_runs(get_client(tracking_uri), parent_id)}
    except Exception as e:  # MLflow wraps an unreachable store's errors in several ways
        if not unreachable(e):
            raise
        for st in cohort:
            st.ok, st.error = False, "; ".join(filter(None, [error, AWAY.format(journal=JOURNAL_DIR)]))
            st.journaled = not error
        return
    for st in cohort:
        run = runs.get(st.cell.key)
        st.ok = run is not None and run.info.status == "FINISHED"
        if not st.ok:
            why = run.data.tags.get(ERROR_TAG) if run else None
            st.error = why or error or f"run {run.info.status if run else 'not started'}"


def execute_local(
    cohorts: list[list[CellStatus]],
    tracking_uri: str,
    parent_id: str,
    workers: int,
    on_change: Listener | None = None,
) -> None:
    """Run cohorts in up to ``workers`` worker processes; a dead process fails only its cells."""
    todo = [st for c in cohorts for st in c]
    ctx = worker_context(any(st.cell.config.augmentation.name != "none" for st in todo))
    pending = list(cohorts)
    running: dict[Any, list[CellStatus]] = {}
    threads = threads_per_worker(workers)
    try:
        while pending or running:
            while pending and len(running) < workers:
                cohort = pending.pop(0)
                proc = ctx.Process(
                    target=_cohort_process,
                    args=((_payload(cohort), tracking_uri, parent_id, threads), os.getpid()),
                )
                proc.start()
                running[proc] = cohort
                for st in cohort:
                    st.started = True
                if on_change:
                    on_change(todo)
            for proc in [p for p in running if not p.is_alive()]:
                cohort = running.pop(proc)
                proc.join()
                _outcomes(
                    tracking_uri,
                    parent_id,
                    cohort,
                    "" if proc.exitcode == 0 else f"worker exited with code {proc.exitcode}",
                )
                if on_change:
                    on_change(todo)
            time.sleep(0.2)
    finally:  # interrupted (Ctrl+C): stop the workers; their cells resume on the next run
        for proc, cohort in running.items():
            proc.terminate()
            proc.join()
            for st in cohort:
                st.ok, st.error = False, "interrupted"


def execute_ray(
    cohorts: list[list[CellStatus]],
    tracking_uri: str,
    parent_id: str,
    workers: int,
    address: str | None,
    num_gpus: float,
    on_change: Listener | None = None,
) -> None:
    """Submit each cohort as a Ray task (``num_gpus`` each) to ``address`` or a local instance."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'al4ml[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address,
            num_cpus=None if address else workers,
            include_dashboard=False,
            log_to_driver=False,
        )
    remote = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=0)(run_cohort_payload)
    threads = threads_per_worker(workers)
    todo = [st for c in cohorts for st in c]
    refs = {remote.remote(_payload(c), tracking_uri, parent_id, threads): c for c in cohorts}
    for st in todo:
        st.started = True
    try:
        remaining = list(refs)
        while remaining:
            done, remaining = ray.wait(remaining, num_returns=1, timeout=1.0)
            for ref in done:
                try:
                    ray.get(ref)
                    error = ""
                except Exception as e:  # a Ray task failure of any kind fails only its cells
                    error = str(e).splitlines()[0][:200]
                _outcomes(tracking_uri, parent_id, refs[ref], error)
            if on_change:
                on_change(todo)
    finally:
        if started_here:
            ray.shutdown()


def finalize(client: MlflowClient, parent_id: str, statuses: list[CellStatus]) -> bool:
    """Mark runs of failed cells FAILED (a killed worker cannot) and close the parent run
    (left open while another live process still writes one of its cells).

    Returns:
        False when the store did not answer: runs stay as they are, for a re-run to close.
    """
    from al4ml.journal import unreachable

    keys = {st.cell.key for st in statuses if st.ok is False}
    try:
        for run in child_runs(client, parent_id):
            if run.data.tags.get(CELL_TAG) in keys and run.info.status == "RUNNING":
                client.set_terminated(run.info.run_id, "FAILED")
        if not any(st.action == "busy" for st in statuses):
            client.set_terminated(parent_id, "FINISHED" if all(st.ok for st in statuses) else "FAILED")
    except Exception as e:  # MLflow wraps an unreachable store's errors in several ways
        if not unreachable(e):
            raise
        return False
    return True
