"""Strategy x augmentation x seed grids: one MLflow parent run, one nested child run per cell.

A grid file names a base experiment and axes over any config key::

    name: grid_digits
    base: digits_quickstart.yaml        # relative to the grid file
    set: {training.epochs: 20}          # overrides for every cell (optional)
    axes:
      query.strategy: [random, entropy, margin]
      augmentation.name: [none, trivialaugment]
      seed: [0, 1, 2]

Each cell's resolved config is hashed; a re-run skips cells whose hash already FINISHED
under the grid's parent run and resumes cells that failed (from their last round). Cells run
in their own processes (``local``: N at a time on this machine; ``ray``: as Ray tasks on a
cluster), so a killed worker fails only its cell.

A grid is versioned by its *shared* config (everything but the axes): the parent run logs it
as params, and a re-run whose shared config differs (another ``--set``, another base file)
starts a new parent run, version 2, 3, ... of the grid, instead of adding differently
configured cells under the old one. More seeds or more axis values extend the same version.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing as mp
import os
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from al4ml.config import ExperimentConfig, anchor_paths, build_config, read_yaml
from al4ml.errors import Al4mlError, ConfigError
from al4ml.runs import (
    AXES_TAG,
    CELL_TAG,
    COLOR_TAG,
    ERROR_TAG,
    GRID_TAG,
    HOST_TAG,
    PID_TAG,
    ROLE_TAG,
    VERSION_TAG,
    logged_as,
    run_color,
    run_name,
)

if TYPE_CHECKING:  # MLflow takes seconds to import: not needed to validate a grid file
    from mlflow.tracking import MlflowClient


class GridFile(BaseModel):
    """The grid YAML: base experiment, overrides for all cells, and the axes."""

    model_config = ConfigDict(extra="forbid")

    name: str
    base: str
    set: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, list[Any]]


@dataclass(frozen=True)
class Cell:
    """One grid cell: its axis values and fully resolved config."""

    values: dict[str, Any]
    config: ExperimentConfig
    color: str = "#1f77b4"  # MLflow's run colour, see :func:`al4ml.runs.run_color`

    @property
    def key(self) -> str:
        """Hash of the resolved config: same config, same cell."""
        blob = json.dumps(self.config.dump(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """The cell's run name, e.g. ``entropy+trivialaugment/s1``."""
        return run_name(self.config.flat(), self.values)


@dataclass
class Grid:
    """A loaded grid: name, axes (key -> values, in file order) and cells in axis order."""

    name: str
    axes: dict[str, list[Any]] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)

    def shared(self) -> dict[str, str]:
        """The flat config every cell shares, without the axis keys: what versions the grid."""
        flats = [c.config.flat() for c in self.cells]
        common = {k: v for k, v in flats[0].items() if all(f.get(k) == v for f in flats[1:])}
        return {k: v for k, v in common.items() if k not in self.axes}


def is_grid_file(path: str | Path) -> bool:
    """Whether a YAML file is a grid (it has ``axes``) rather than one experiment."""
    try:
        tree = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(tree, dict) and "axes" in tree


def baseline_configs(grid: Grid) -> list[ExperimentConfig]:
    """One config per distinct training setting and seed of the grid's cells (query and
    budget do not matter to a full-data baseline), in cell order."""
    from al4ml.runs import training_setting

    seen: dict[str, ExperimentConfig] = {}
    for cell in grid.cells:
        flat = cell.config.flat()
        seen.setdefault(json.dumps([training_setting(flat), flat["seed"]], sort_keys=True),
                        cell.config)
    return list(seen.values())


def load_grid(path: str | Path, overrides: list[str] | None = None) -> Grid:
    """Read a grid file and resolve every cell's config (``overrides`` apply to all cells).

    Raises:
        ConfigError: unreadable file, unknown keys, or any cell with an invalid config.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"grid file not found: {path}")
    try:
        spec = GridFile.model_validate(read_yaml(path) or {})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']} (grid keys: name, base, set, "
                          "axes)") from None
    if not spec.axes:
        raise ConfigError(f"{path}: axes: no axis given; name at least one config key with a "
                          "list of values (e.g. seed: [0, 1, 2])")
    base_path = (path.parent / spec.base).resolve()
    if not base_path.is_file():
        raise ConfigError(f"{path}: base experiment not found: {base_path}")
    base = anchor_paths(read_yaml(base_path) or {}, base_path.parent)
    common = [f"{k}={json.dumps(v)}" for k, v in spec.set.items()] + list(overrides or [])
    empty = [k for k, v in spec.axes.items() if not v]
    if empty:
        raise ConfigError(f"{path}: axis {empty[0]!r} has no values")
    for key, values in spec.axes.items():
        shown = [json.dumps(v, sort_keys=True) for v in values]
        if repeated := next((v for i, v in enumerate(shown) if v in shown[:i]), None):
            raise ConfigError(f"{path}: axis {key!r} lists {repeated} twice; each value once "
                              "(a repeated value would train the same cell twice)")
    cells = []
    for combo in itertools.product(*spec.axes.values()):
        values = dict(zip(spec.axes, combo, strict=True))
        sets = common + [f"{k}={json.dumps(v)}" for k, v in values.items()] + [f"name={spec.name}"]
        try:
            cfg = build_config(base, sets)
        except ConfigError as e:
            label = " ".join(f"{k}={v}" for k, v in values.items())
            raise ConfigError(f"grid cell [{label}]: {e}") from None
        cells.append(Cell(values, cfg, run_color(spec.axes, values)))
    return Grid(spec.name, dict(spec.axes), cells)


@dataclass(frozen=True)
class Parent:
    """The grid's parent run: its id, version, and why a new version was started (if so)."""

    run_id: str
    version: int
    new_version_because: str = ""


def _grid_parents(client: MlflowClient, exp: str, name: str) -> list[Any]:
    return client.search_runs([exp], f"tags.`{ROLE_TAG}` = 'grid' and tags.`{GRID_TAG}` = '{name}'",
                              order_by=["attributes.start_time DESC"], max_results=1000)


def _difference(params: dict[str, str], shared: dict[str, str], defaults: dict[str, str]) -> str:
    """The first shared key whose value differs from a parent's, as ``key: old -> new``."""
    for key, value in shared.items():
        old = params.get(key, defaults.get(key))
        if old != value[:6000]:
            return f"{key}: {old} -> {value}"
    return ""


def parent_run(client: MlflowClient, grid: Grid) -> Parent:
    """The grid's parent run: the newest one with this grid's shared config, or a new one.

    The parent logs the shared config as params and the axes (the union over re-runs, so
    a grid extended by seeds or axis values stays one version) as a JSON tag.
    """
    from mlflow.entities import Param, RunTag

    from al4ml.tracking import experiment_id

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
    run = client.create_run(exp, run_name=name, tags={
        ROLE_TAG: "grid", GRID_TAG: grid.name, VERSION_TAG: str(version),
        AXES_TAG: json.dumps(grid.axes), COLOR_TAG: "#7f7f7f"})  # grey: no curve of its own
    params = [Param(k, v[:6000]) for k, v in shared.items()]
    for i in range(0, len(params), 100):
        client.log_batch(run.info.run_id, params=params[i:i + 100])
    client.log_batch(run.info.run_id, tags=[RunTag("mlflow.note.content", (
        f"al4ml grid {grid.name}, version {version}: axes "
        + " x ".join(f"{k} ({len(v)})" for k, v in grid.axes.items())))])
    why = _difference(parents[0].data.params, shared, defaults) if parents else ""
    return Parent(run.info.run_id, version, why)


def child_runs(client: MlflowClient, parent_id: str) -> list[Any]:
    """All cell runs nested under the grid's parent run."""
    exp = client.get_run(parent_id).info.experiment_id
    return client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent_id}'", max_results=50000)


@dataclass
class CellStatus:
    """What a grid run decided for one cell."""

    cell: Cell
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
    legacy = []
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
            out.append(CellStatus(cell, "busy", run.info.run_id,
                                  error=f"being written by pid {pid} on this machine"))
            continue
        runs.sort(key=lambda r: (bool(client.list_artifacts(r.info.run_id, "state")),
                                 r.info.start_time), reverse=True)
        out.append(CellStatus(cell, "resume", runs[0].info.run_id) if runs else CellStatus(cell, "new"))
        for stale in runs[1:]:
            if stale.info.status == "RUNNING":
                client.set_terminated(stale.info.run_id, "FAILED")
    return out


def run_cohort_task(cells: list[tuple[dict[str, Any], dict[str, Any], dict[str, str], str | None]],
                    tracking_uri: str, parent_id: str, threads: int) -> list[bool]:
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
    specs = [CellSpec(ExperimentConfig.model_validate(config), resume, "cell", axes,
                      {**tags, PID_TAG: pid, HOST_TAG: host})
             for config, axes, tags, resume in cells]
    results = run_cohort(specs, tracking_uri, parent_run_id=parent_id, progress=False)
    return [r.error is None for r in results]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists; we may not signal it
        return True
    return True


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


def worker_context(augmenting: bool = True) -> mp.context.BaseContext:
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
    ctx.set_forkserver_preload(["al4ml.fastexit", "al4ml.grid", "al4ml.experiment", "torch._dynamo",
                                *(["torchvision.transforms.v2.functional"] * augmenting)])
    return ctx


def _cohort_process(args: tuple, parent: int) -> None:
    die_with_parent(parent)
    try:
        run_cohort_task(*args)
    except Al4mlError as e:  # e.g. the store stopped answering before its runs existed
        print(f"al4ml: a cohort could not run: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


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


Listener = Callable[[list[CellStatus]], None]


def _threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _task(cohort: list[CellStatus]) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, str],
                                                  str | None]]:
    return [(st.cell.config.dump(), st.cell.values,
             {CELL_TAG: st.cell.key, COLOR_TAG: st.cell.color}, st.run_id) for st in cohort]


def cells_per_device(cfg: ExperimentConfig) -> int | None:
    """How many cells of ``cfg``'s setup train together on one CUDA device; ``None`` off CUDA.

    Measured, not guessed: one eager training step and one scoring pass of a cohort of one
    and of two (random images of the dataset's shape, the config's model, batch and eval
    batch), so the peak memory of one more cell is known; the device's free memory, less a
    fifth for fragmentation and the pool, divided by that is the answer.
    """
    import torch

    from al4ml.augment import create_augmentation
    from al4ml.augment.policy import CohortAugment
    from al4ml.device import resolve_device
    from al4ml.experiment import load_dataset
    from al4ml.infer import predict
    from al4ml.models import create_model
    from al4ml.models.stack import StackedClassifier
    from al4ml.train import fit

    device = resolve_device(cfg.device)
    if device.type != "cuda":
        return None
    info = load_dataset(cfg).info
    b = max(2, min(cfg.training.batch_size, cfg.budget.total))
    x = torch.randint(0, 256, (b, info.channels, *info.size), dtype=torch.uint8, device=device)
    task = info.label_task
    y = torch.randint(0, 2 if task.multi_label else info.num_classes,
                      (b, *task.label_shape(info.num_classes)), device=device)
    once = cfg.training.model_copy(update={"epochs": 1, "min_steps": 0, "cuda_graph": False,
                                           "compile": False})
    free_before = torch.cuda.mem_get_info(device)[0]
    peaks = []
    for k in (1, 2):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        stack = StackedClassifier([create_model(cfg.model.name, info.channels, info.num_classes,
                                                **cfg.model.options).to(device) for _ in range(k)])
        augment = CohortAugment([create_augmentation("none")] * k,
                                [torch.Generator(device=device).manual_seed(i) for i in range(k)])
        fit(stack, x, torch.arange(b, device=device).expand(k, b), y.expand(k, *y.shape), once,
            augment, device, task=task)
        predict(stack, x.repeat(-(-cfg.training.eval_batch_size // b), 1, 1, 1), device,
                cfg.training.eval_batch_size, embeddings=True, bf16=cfg.training.bf16, task=task)
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
        del stack, augment
    torch.cuda.empty_cache()
    per_cell = max(peaks[1] - peaks[0], 1)
    return max(1, int(0.8 * free_before / per_cell))


def plan_cohorts(todo: list[CellStatus], size: int | None, workers: int) -> list[list[CellStatus]]:
    """Group the cells to run into cohorts of cells that can train together.

    Cells share a cohort when they share dataset, model, training and budget
    (:func:`al4ml.loop.cohort_key`); at most ``size`` per cohort, or with ``size=None``, as
    many as fit one CUDA device (measured, shared by ``workers`` processes) or, on CPU, as
    evenly as keeps every worker busy. Compatible cells are split into cohorts of equal size.
    """
    from al4ml.loop import cohort_key

    groups: dict[str, list[CellStatus]] = {}
    for st in todo:
        groups.setdefault(cohort_key(st.cell.config), []).append(st)
    out = []
    for members in groups.values():
        cap = size
        if cap is None:
            fits = cells_per_device(members[0].cell.config)
            cap = max(1, fits // workers) if fits else -(-len(members) // workers)
        n = -(-len(members) // max(1, cap))
        out += [list(part) for part in _split(members, n)]
    return out


def _split(items: list[Any], n: int) -> list[list[Any]]:
    """``items`` in ``n`` consecutive parts whose sizes differ by at most one."""
    q, r = divmod(len(items), n)
    bounds = [i * q + min(i, r) for i in range(n + 1)]
    return [items[bounds[i]:bounds[i + 1]] for i in range(n)]


AWAY = ("outcome unknown: the tracking store did not answer when its worker ended (what the "
        "worker could not send waits in {journal}: al4ml sync it, then re-run the grid, which "
        "skips finished cells)")
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
        runs = {r.data.tags.get(CELL_TAG): r
                for r in child_runs(get_client(tracking_uri), parent_id)}
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


def execute_local(cohorts: list[list[CellStatus]], tracking_uri: str, parent_id: str, workers: int,
                  on_change: Listener | None = None) -> None:
    """Run cohorts in up to ``workers`` worker processes; a dead process fails only its cells."""
    todo = [st for c in cohorts for st in c]
    ctx = worker_context(any(st.cell.config.augmentation.name != "none" for st in todo))
    pending = list(cohorts)
    running: dict[Any, list[CellStatus]] = {}
    threads = _threads(workers)
    try:
        while pending or running:
            while pending and len(running) < workers:
                cohort = pending.pop(0)
                proc = ctx.Process(target=_cohort_process, args=((
                    _task(cohort), tracking_uri, parent_id, threads), os.getpid()))
                proc.start()
                running[proc] = cohort
                for st in cohort:
                    st.started = True
                if on_change:
                    on_change(todo)
            for proc in [p for p in running if not p.is_alive()]:
                cohort = running.pop(proc)
                proc.join()
                _outcomes(tracking_uri, parent_id, cohort,
                          "" if proc.exitcode == 0 else f"worker exited with code {proc.exitcode}")
                if on_change:
                    on_change(todo)
            time.sleep(0.2)
    finally:  # interrupted (Ctrl+C): stop the workers; their cells resume on the next run
        for proc, cohort in running.items():
            proc.terminate()
            proc.join()
            for st in cohort:
                st.ok, st.error = False, "interrupted"


def execute_ray(cohorts: list[list[CellStatus]], tracking_uri: str, parent_id: str, workers: int,
                address: str | None, num_gpus: float, on_change: Listener | None = None) -> None:
    """Submit each cohort as a Ray task (``num_gpus`` each) to ``address`` or a local instance."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'al4ml[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False)
    task = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=0)(run_cohort_task)
    threads = _threads(workers)
    todo = [st for c in cohorts for st in c]
    refs = {task.remote(_task(c), tracking_uri, parent_id, threads): c for c in cohorts}
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
            client.set_terminated(parent_id, "FINISHED" if all(st.ok for st in statuses)
                                  else "FAILED")
    except Exception as e:  # MLflow wraps an unreachable store's errors in several ways
        if not unreachable(e):
            raise
        return False
    return True


@dataclass
class GridRun:
    """A grid run: the grid, its parent run, each cell's plan and outcome, the cohorts."""

    grid: Grid
    parent: Parent
    statuses: list[CellStatus]
    cohorts: list[list[CellStatus]]
    tracking_uri: str
    closed: bool = False
    """Whether the end of the run reached the store (False: it did not answer)."""

    @property
    def parent_run_id(self) -> str:
        """The grid's parent MLflow run (what ``al4ml report`` takes)."""
        return self.parent.run_id

    @property
    def todo(self) -> list[CellStatus]:
        """Cells this run trains (new or resumed)."""
        return [st for st in self.statuses if st.action in ("new", "resume")]

    @property
    def failed(self) -> list[CellStatus]:
        """Cells that failed in this run."""
        return [st for st in self.todo if st.ok is False]


def prepare_grid(path: str | Path, overrides: list[str] | None = None,
                 tracking_uri: str | None = None, cohort_size: int | None = None,
                 workers: int = 1, create_store: bool = False) -> GridRun:
    """Load a grid file, find or start its parent run, and plan its cells and cohorts.

    ``create_store`` makes a missing store folder instead of refusing it.

    Raises:
        ConfigError: a bad grid file, config value or store, as one line.
    """
    from al4ml.store import check_store, resolve_tracking_uri

    grid = load_grid(path, overrides)
    uri = check_store(resolve_tracking_uri(tracking_uri), create=create_store)
    from al4ml.tracking import get_client  # MLflow: once grid and store are fine

    client = get_client(uri)
    parent = parent_run(client, grid)
    client.update_run(parent.run_id, status="RUNNING")
    statuses = plan(client, parent.run_id, grid)
    run = GridRun(grid, parent, statuses, [], uri)
    run.cohorts = plan_cohorts(run.todo, cohort_size, workers) if run.todo else []
    return run


def execute(run: GridRun, executor: str = "local", workers: int = 1, ray_address: str | None = None,
            gpus_per_cohort: float = 0.0, on_change: Listener | None = None) -> GridRun:
    """Train a prepared grid's cohorts (local processes or Ray tasks) and close its parent run."""
    if executor == "local":
        execute_local(run.cohorts, run.tracking_uri, run.parent_run_id, workers, on_change)
    elif executor == "ray":
        execute_ray(run.cohorts, run.tracking_uri, run.parent_run_id, workers, ray_address,
                    gpus_per_cohort, on_change)
    else:
        raise ConfigError(f"unknown executor {executor!r}; choose from: local, ray")
    from al4ml.tracking import get_client

    run.closed = finalize(get_client(run.tracking_uri), run.parent_run_id, run.statuses)
    return run


def run_grid(path: str | Path, overrides: list[str] | None = None, tracking_uri: str | None = None,
             workers: int = 1, cohort_size: int | None = None, executor: str = "local",
             ray_address: str | None = None, gpus_per_cohort: float = 0.0,
             on_change: Listener | None = None) -> GridRun:
    """Run a grid file: skip finished cells, resume the others, train as cohorts, close its parent.

    Arguments as ``al4ml grid``; ``cohort_size=None`` is ``auto``.

    Returns:
        The run: ``parent_run_id`` for :func:`al4ml.report.build_report`, and each cell's status.
    """
    return execute(prepare_grid(path, overrides, tracking_uri, cohort_size, workers), executor,
                   workers, ray_address, gpus_per_cohort, on_change)
