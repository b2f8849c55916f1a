"""A grid in MLflow: its parent run (versioned by the shared config), its child runs, and
what a re-run does with each cell (skip, resume, new; left alone while a live process on
this host still writes it)."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from al4ml.config import ExperimentConfig
from al4ml.grid.spec import Grid, GridCell
from al4ml.runs import (
    AXES_TAG,
    CELL_TAG,
    COLOR_TAG,
    GRID_TAG,
    HOST_TAG,
    PID_TAG,
    ROLE_TAG,
    VERSION_TAG,
    logged_as,
)

if TYPE_CHECKING:  # MLflow takes seconds to import: not needed to validate a grid file
    from mlflow.tracking import MlflowClient


@dataclass(frozen=True)
class Parent:
    """The grid's parent run: its id, version, and why a new version was started (if so)."""

    run_id: str
    version: int
    new_version_because: str = ""


def _grid_parents(client: MlflowClient, exp: str, name: str) -> list[Any]:
    return client.search_runs(
        [exp],
        f"tags.`{ROLE_TAG}` = 'grid' and tags.`{GRID_TAG}` = '{name}'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )


def _difference(params: dict[str, str], shared: dict[str, str], defaults: dict[str, str]) -> str:
    """The first shared key whose value differs from a parent's, as ``key: old -> new``."""
    from al4ml.tracking.client import as_logged

    for key, value in shared.items():
        old = params.get(key, defaults.get(key))
        if old != as_logged(value):
            return f"{key}: {old} -> {value}"
    return ""


def parent_run(client: MlflowClient, grid: Grid) -> Parent:
    """The grid's parent run: the newest one with this grid's shared config, or a new one.

    The parent logs the shared config as params and the axes (the union over re-runs, so
    a grid extended by seeds or axis values stays one version) as a JSON tag.
    """
    from mlflow.entities import RunTag

    from al4ml.tracking import experiment_id
    from al4ml.tracking.client import log_params

    exp = experiment_id(client, grid.name)
    shared = grid.shared()
    defaults = ExperimentConfig().flat()
    parents = _grid_parents(client, exp, grid.name)
    for run in parents:
        if logged_as(run.data.params, shared, defaults):
            axes = json.loads(run.data.tags.get(AXES_TAG, "{}"))
            for key, values in grid.axes.items():
                axes[key] = axes.get(key, []) + [v for v in values if v not in axes.get(key, [])]
            client.set_tag(run.info.run_id, AXES_TAG, json.dumps(axes))
            return Parent(run.info.run_id, int(run.data.tags.get(VERSION_TAG, "1")))
    version = 1 + max((int(r.data.tags.get(VERSION_TAG, "1")) for r in parents), default=0)
    name = f"grid {grid.name}" + (f" v{version}" if version > 1 else "")
    run = client.create_run(
        exp,
        run_name=name,
        tags={
            ROLE_TAG: "grid",
            GRID_TAG: grid.name,
            VERSION_TAG: str(version),
            AXES_TAG: json.dumps(grid.axes),
            COLOR_TAG: "#7f7f7f",
        },
    )  # grey: no curve of its own
    log_params(client, run.info.run_id, shared)
    client.log_batch(
        run.info.run_id,
        tags=[
            RunTag(
                "mlflow.note.content",
                (
                    f"al4ml grid {grid.name}, version {version}: axes "
                    + " x ".join(f"{k} ({len(v)})" for k, v in grid.axes.items())
                ),
            )
        ],
    )
    why = _difference(parents[0].data.params, shared, defaults) if parents else ""
    return Parent(run.info.run_id, version, why)


def child_runs(client: MlflowClient, parent_id: str) -> list[Any]:
    """All cell runs nested under the grid's parent run."""
    exp = client.get_run(parent_id).info.experiment_id
    return client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent_id}'", max_results=50000)


@dataclass
class CellStatus:
    """What a grid run decided for one cell."""

    cell: GridCell
    action: str  # "done" (skipped), "new", "resume", "busy" (another live process writes it)
    run_id: str | None = None
    started: bool = False
    ok: bool | None = None
    error: str = ""
    journaled: bool = False  # failed only because the store was away: its writes wait in a journal


def plan(client: MlflowClient, parent_id: str, grid: Grid) -> list[CellStatus]:
    """Decide per cell: skip (FINISHED before), resume (a failed or killed run), or new.

    A cell's runs are those tagged with its key (the hash of its resolved config) and, for
    runs logged by an al4ml with fewer config keys (another hash), those whose logged params
    match the cell's config.
    """
    keys = {cell.key for cell in grid.cells}
    by_key: dict[str, list[Any]] = {}
    legacy: list[Any] = []
    for run in child_runs(client, parent_id):
        key = run.data.tags.get(CELL_TAG, "")
        (by_key.setdefault(key, []) if key in keys else legacy).append(run)
    defaults = ExperimentConfig().flat()
    out = []
    for cell in grid.cells:
        flat = cell.config.flat()
        runs = by_key.get(cell.key, []) + [r for r in legacy if logged_as(r.data.params, flat, defaults)]
        if any(r.info.status == "FINISHED" for r in runs):
            out.append(CellStatus(cell, "done", ok=True))
            continue
        # Continue the run that got furthest (a saved state first), in place: even one that
        # saved no round restarts under its own id, so a cell keeps one run.
        busy = [(r, pid) for r in runs if (pid := writer_alive(r)) is not None]
        if busy:  # another live process writes this cell: never a second writer
            run, pid = busy[0]
            out.append(
                CellStatus(cell, "busy", run.info.run_id, error=f"being written by pid {pid} on this machine")
            )
            continue
        runs.sort(
            key=lambda r: (bool(client.list_artifacts(r.info.run_id, "state")), r.info.start_time),
            reverse=True,
        )
        out.append(CellStatus(cell, "resume", runs[0].info.run_id) if runs else CellStatus(cell, "new"))
        for stale in runs[1:]:
            if stale.info.status == "RUNNING":
                client.set_terminated(stale.info.run_id, "FAILED")
    return out


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists; we may not signal it
        return True
    return True


def writer_alive(run: Any) -> int | None:
    """The pid of a live process on this host that is writing ``run``, if any."""
    pid, host = run.data.tags.get(PID_TAG), run.data.tags.get(HOST_TAG)
    if run.info.status != "RUNNING" or not pid or host != socket.gethostname():
        return None
    if not pid.isdigit() or not pid_alive(int(pid)):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"python" not in cmdline.read_bytes():
        return None  # the pid was reused by something else
    return int(pid)
