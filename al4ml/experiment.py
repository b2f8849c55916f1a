"""Wires experiments together: configs -> data -> a cohort loop, observed by MLflow and progress.

:func:`run_cohort` runs K compatible configs as one cohort (each its own MLflow run);
:func:`run_experiment` is a cohort of one.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from rich.console import Console

from al4ml.config import ExperimentConfig
from al4ml.data import ActiveDataset, create_dataset
from al4ml.device import resolve_device
from al4ml.errors import Al4mlError, Al4mlWarning, ConfigError, RunFailed, RunInterrupted
from al4ml.loop import ActiveLearningLoop
from al4ml.progress import RichProgress
from al4ml.records import CellObserver, CohortObserver, Deferred, LoopState, RoundRecord
from al4ml.runs import (
    CEILING_PREFIX,
    COHORT_SIZE_TAG,
    COHORT_TAG,
    ROLE_TAG,
    display_name,
    error_line,
)
from al4ml.tracking import MlflowTracker, get_client, load_state, missing_steps
from al4ml.tracking.client import as_logged, tag_value


@dataclass
class ExperimentResult:
    """A finished (or failed) experiment: its MLflow run id, final loop state and error."""

    run_id: str
    state: LoopState | None
    error: BaseException | None = None
    journal: Path | None = None
    """Where writes the store did not take wait for ``al4ml sync`` (``None``: all stored)."""
    name: str = ""
    """The run's name in MLflow."""

    @property
    def history(self) -> list[RoundRecord]:
        """The rounds it logged (none if it failed before its first)."""
        return self.state.history if self.state else []


@dataclass
class CellSpec:
    """How one cell of a cohort is run and logged.

    Attributes:
        cfg: Validated config.
        resume_run_id: Continue this MLflow run from its last saved state.
        role: ``run``, ``cell`` (of a grid) or ``baseline``.
        axes: A grid cell's axis values (tags and run name).
        extra_tags: More MLflow tags.
    """

    cfg: ExperimentConfig
    resume_run_id: str | None = None
    role: str = "run"
    axes: dict[str, object] | None = None
    extra_tags: dict[str, str] | None = None


def _resumable_state(client: MlflowClient, run_id: str, cfg: ExperimentConfig) -> LoopState | None:
    """Where run ``run_id`` continues with ``cfg``: its last saved state, or ``None`` (round 0).

    Any run that did not FINISH can be continued: from its last saved round; from round 0,
    in place, if it saved none (it was stopped in its first round); and a run whose saved
    state covers its whole budget (stopped after its last round, before it was closed) redoes
    that last round, which is deterministic on CPU, to write its final model and close. Rounds
    already logged are not logged twice.

    Raises:
        ConfigError: unknown run, a finished one, or a config that differs from the run's.
    """
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ConfigError(f"--resume: no run {run_id!r} in {client.tracking_uri}") from None
    logged = run.data.params
    for key, value in cfg.flat().items():
        if key in logged and logged[key] != as_logged(value):
            raise ConfigError(
                f"--resume: run {run_id} was started with {key}={logged[key]}, "
                f"not {value}; resume it with its own config"
            )
    try:
        state = load_state(client, run_id)
    except (MlflowException, OSError):
        state = None
    if run.info.status == "FINISHED" and not (state and _has_holes(client, run, state)):
        raise ConfigError(f"--resume: run {run_id} already finished its budget")
    if state is None:
        return None
    if state.history and not state.history[-1].queried:
        state.history.pop()
    return state


def _has_holes(client: MlflowClient, run: Run, state: LoopState) -> bool:
    """Whether the store lacks a round that ``state`` (a run's last saved state) implies.

    Every saved round is a step, and a saved round that queried was followed by one more.
    A run closed as FINISHED with such a hole (a store that refused a read, in versions
    before reads were retried) is resumed, not refused: its saved rounds are logged from the
    state and the missing last ones trained again.
    """
    steps = [r.n_labeled for r in state.history]
    if state.history and state.history[-1].queried:
        steps.append(state.history[-1].n_labeled + len(state.history[-1].queried))
    prefix = CEILING_PREFIX if run.data.tags.get(ROLE_TAG) == "baseline" else ""
    return bool(missing_steps(client, run.info.run_id, steps, prefix))


def load_dataset(cfg: ExperimentConfig) -> ActiveDataset:
    """The dataset a config names."""
    return create_dataset(cfg.dataset.name, cfg.dataset.root, **cfg.dataset.options)


def run_cohort(
    specs: list[CellSpec],
    tracking_uri: str | None = None,
    dataset: ActiveDataset | None = None,
    parent_run_id: str | None = None,
    progress: bool = True,
    console: Console | None = None,
    observers: tuple[CellObserver, ...] = (),
    cohort_observers: tuple[CohortObserver, ...] = (),
) -> list[ExperimentResult]:
    """Run (or resume) K compatible experiments as one cohort, each logged as its own MLflow run.

    Everything that can fail on bad input (device, data, augmentation, resume state) is
    checked before any MLflow run is created. A cell that fails mid-run is marked FAILED and
    the others go on; a failure of the shared work (training) marks every cell FAILED and is
    raised. Logged rounds and saved states stay, so failed cells can be resumed. Cells that
    resume from different rounds run as one cohort per round, one after the other.

    Args:
        specs: The cells; their configs must share dataset, model, training and budget.
        tracking_uri: MLflow store (default ``$MLFLOW_TRACKING_URI`` or ``sqlite:///mlruns.db``).
        dataset: Use this dataset instead of loading the one the configs name (tests).
        parent_run_id: Nest the runs under this MLflow run (grids).
        progress: Show a rich progress display.
        console: Console for the progress display.
        observers: More observers of every cell (after its MLflow tracker).
        cohort_observers: More observers of the shared rounds and epochs.

    Returns:
        One result per cell, in order; ``error`` is set for cells that failed.
    """
    cfgs = [s.cfg for s in specs]
    device = resolve_device(cfgs[0].device)
    given = dataset is not None
    if dataset is None:
        dataset = load_dataset(cfgs[0])  # bad data fails before a store exists
    budget = cfgs[0].budget.total
    if cfgs[0].budget.unit == "labels" and budget > dataset.pool_size:
        warnings.warn(
            Al4mlWarning(
                f"budget.total={budget} is larger than the pool of {dataset.info.name} "
                f"({dataset.pool_size} items): the run stops when the pool is labeled, at "
                f"{dataset.pool_size} labels (logged as tag al4ml.budget_effective)"
            ),
            stacklevel=2,
        )
    loop = ActiveLearningLoop(cfgs, dataset, device)
    client = get_client(tracking_uri)
    states = [_resumable_state(client, s.resume_run_id, s.cfg) if s.resume_run_id else None for s in specs]
    start = [len(s.history) if s else 0 for s in states]  # None: round 0 (in place, if resumed)
    if len(set(start)) > 1:  # cells resume from different rounds: one cohort per round, in turn
        if given:
            raise ValueError("cells resuming from different rounds need the dataset loaded per group")
        results: dict[int, ExperimentResult] = {}
        for r in sorted(set(start)):
            idx = [i for i, x in enumerate(start) if x == r]
            for i, res in zip(
                idx,
                run_cohort(
                    [specs[i] for i in idx],
                    tracking_uri,
                    None,
                    parent_run_id,
                    progress,
                    console,
                    observers,
                    cohort_observers,
                ),
                strict=True,
            ):
                results[i] = res
        return [results[i] for i in range(len(specs))]
    names = [display_name(s.cfg.flat(), s.role, s.axes or {}) for s in specs]
    cohort = {COHORT_SIZE_TAG: str(len(specs)), COHORT_TAG: tag_value(", ".join(names))}
    trackers = [
        MlflowTracker(
            client,
            s.cfg,
            run_id=s.resume_run_id,
            parent_run_id=parent_run_id,
            extra_tags=s.extra_tags,
            role=s.role,
            axes=s.axes,
            cohort=cohort,
            name=name,
        )
        for s, name in zip(specs, names, strict=True)
    ]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="al4ml-tracking") as writer:
        deferred = [Deferred(t, writer) for t in trackers]
        for cell, later in zip(loop.cells, deferred, strict=True):
            cell.observers = (later, *observers)
        try:
            if progress:
                with RichProgress(console) as bar:
                    loop.cohort_observers = (*cohort_observers, bar)
                    cells = loop.run(states)
            else:
                loop.cohort_observers = cohort_observers
                cells = loop.run(states)
        except BaseException as e:
            stopped = RuntimeError(f"the cohort stopped: {error_line(e)}")
            for later in deferred:
                later.on_fail(stopped)
            if isinstance(e, KeyboardInterrupt) and not isinstance(e, RunInterrupted):
                raise RunInterrupted([t.run_id for t in trackers]) from None
            raise
    for cell, later, tracker in zip(cells, deferred, trackers, strict=True):
        try:
            later.wait()
        except Exception as e:  # a tracking write failed after the loop had moved on
            cell.error = cell.error or e
            tracker.on_fail(e)
    return [
        ExperimentResult(t.run_id, c.state, c.error, t.writer.folder if t.writer.offline else None, name)
        for t, c, name in zip(trackers, cells, names, strict=True)
    ]


def run_experiment(
    cfg: ExperimentConfig,
    tracking_uri: str | None = None,
    dataset: ActiveDataset | None = None,
    resume_run_id: str | None = None,
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
    progress: bool = True,
    console: Console | None = None,
    observers: tuple[CellObserver, ...] = (),
    role: str = "run",
    axes: dict[str, object] | None = None,
    cohort_observers: tuple[CohortObserver, ...] = (),
) -> ExperimentResult:
    """Run (or resume) one active-learning experiment, logged as one MLflow run (a cohort of one).

    A failure mid-run marks the run FAILED and is raised as :class:`RunFailed` (its cause
    chained); its logged rounds and saved state stay, and ``resume_run_id`` continues it.
    Arguments as :func:`run_cohort` and :class:`CellSpec`.
    """
    [result] = run_cohort(
        [CellSpec(cfg, resume_run_id, role, axes, extra_tags)],
        tracking_uri,
        dataset=dataset,
        parent_run_id=parent_run_id,
        progress=progress,
        console=console,
        observers=observers,
        cohort_observers=cohort_observers,
    )
    if isinstance(result.error, Al4mlError):
        raise result.error
    if result.error is not None:
        raise RunFailed(result.run_id, error_line(result.error)) from result.error
    return result


def run_baseline(
    cfg: ExperimentConfig,
    tracking_uri: str | None = None,
    dataset: ActiveDataset | None = None,
    progress: bool = True,
    axes: dict[str, object] | None = None,
) -> ExperimentResult:
    """Supervised training on the whole training split: the ceiling for learning curves.

    It is the loop with a budget that buys every pool label up front (one round, no query),
    logged as a baseline: named ``baseline+<augmentation>/s<seed>`` (plus the other grid
    ``axes`` its training depends on), no strategy tag, and its metrics as ``ceiling_*`` at
    step = pool size, so learning-curve charts never show it.
    """
    dataset = dataset if dataset is not None else load_dataset(cfg)
    n = dataset.pool_size
    full = cfg.model_copy(
        update={
            "budget": cfg.budget.model_copy(
                update={"initial": n, "per_round": n, "total": n, "unit": "labels"}
            )
        }
    )
    return run_experiment(full, tracking_uri, dataset=dataset, progress=progress, role="baseline", axes=axes)


def run_baselines(
    cfgs: list[ExperimentConfig],
    tracking_uri: str | None = None,
    progress: bool = True,
    axes: list[str] | None = None,
) -> list[ExperimentResult]:
    """:func:`run_baseline` for each config that has no FINISHED baseline in its experiment yet.

    A baseline counts as done for a config when it shares the config's training setting
    (everything but query, budget, seed and name) and seed. ``axes``: the grid's axis keys
    (those a baseline's training depends on join its name and its ``axis.*`` tags).
    """
    from al4ml.runs import CEILING_PREFIX, ROLE_TAG, logged_config, training_setting

    client = get_client(tracking_uri)
    defaults = ExperimentConfig().flat()
    results = []
    for cfg in cfgs:
        flat = cfg.flat()
        exp = client.get_experiment_by_name(cfg.name)
        done = exp is not None and any(
            r.info.status == "FINISHED"
            and any(k.startswith(CEILING_PREFIX) for k in r.data.metrics)
            and training_setting(logged_config(r.data.params, defaults)) == training_setting(flat)
            and r.data.params.get("seed") == flat["seed"]
            for r in client.search_runs(
                [exp.experiment_id], f"tags.`{ROLE_TAG}` = 'baseline'", max_results=5000
            )
        )
        if not done:
            values: dict[str, object] = {
                k: flat[k]
                for k in axes or []
                if k in flat and k != "seed" and not k.startswith(("query.", "budget."))
            }
            results.append(run_baseline(cfg, tracking_uri, progress=progress, axes=values))
    return results
