"""Wires one experiment together: config -> data -> loop, observed by MLflow and a progress bar."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from rich.console import Console

from al4ml.config import ExperimentConfig
from al4ml.data import ActiveDataset, create_dataset
from al4ml.errors import ConfigError
from al4ml.loop import ActiveLearningLoop, LoopState, Observer
from al4ml.progress import RichProgress
from al4ml.tracking import MlflowTracker, get_client, load_state
from al4ml.train import resolve_device


@dataclass
class ExperimentResult:
    """A finished experiment: its MLflow run id and final loop state."""

    run_id: str
    state: LoopState


def _resumable_state(client: MlflowClient, run_id: str, cfg: ExperimentConfig) -> LoopState:
    """The saved state of ``run_id``, if it can be continued with ``cfg``."""
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ConfigError(f"--resume: no run {run_id!r} in {client.tracking_uri}") from None
    logged = run.data.params
    for key, value in cfg.flat().items():
        if key in logged and logged[key] != value[:6000]:
            raise ConfigError(f"--resume: run {run_id} was started with {key}={logged[key]}, "
                              f"not {value}; resume it with its own config")
    try:
        state = load_state(client, run_id)
    except (MlflowException, OSError):
        raise ConfigError(f"--resume: run {run_id} saved no finished round yet; start it anew") from None
    if state.history and not state.history[-1].queried:
        raise ConfigError(f"--resume: run {run_id} already finished its budget")
    return state


def load_dataset(cfg: ExperimentConfig) -> ActiveDataset:
    """The dataset a config names."""
    return create_dataset(cfg.dataset.name, cfg.dataset.root, **cfg.dataset.options)


def run_experiment(cfg: ExperimentConfig, tracking_uri: str | None = None,
                   dataset: ActiveDataset | None = None, resume_run_id: str | None = None,
                   parent_run_id: str | None = None, extra_tags: dict[str, str] | None = None,
                   progress: bool = True, console: Console | None = None,
                   observers: tuple[Observer, ...] = (), role: str = "run",
                   axes: dict[str, object] | None = None) -> ExperimentResult:
    """Run (or resume) one active-learning experiment, logged as one MLflow run.

    Everything that can fail on bad input (device, data, augmentation) is checked before
    the MLflow run is created. A failure mid-run marks the run FAILED; its logged rounds and
    saved state stay, and ``resume_run_id`` continues it.

    Args:
        cfg: Validated config.
        tracking_uri: MLflow store (default ``$MLFLOW_TRACKING_URI`` or ``sqlite:///mlruns.db``).
        dataset: Use this dataset instead of loading the one ``cfg`` names (tests).
        resume_run_id: Continue this run from its last saved state.
        parent_run_id: Nest the run under this MLflow run (grids).
        extra_tags: More MLflow tags.
        progress: Show a rich progress display.
        console: Console for the progress display.
        observers: More observers of the loop (after the MLflow tracker).
        role: ``run``, ``cell`` (of a grid) or ``baseline`` (see :class:`MlflowTracker`).
        axes: A grid cell's axis values (tags and run name).
    """
    device = resolve_device(cfg.device)
    dataset = dataset if dataset is not None else load_dataset(cfg)
    loop = ActiveLearningLoop(cfg, dataset, device)
    client = get_client(tracking_uri)
    state = _resumable_state(client, resume_run_id, cfg) if resume_run_id else None
    tracker = MlflowTracker(client, cfg, run_id=resume_run_id, parent_run_id=parent_run_id,
                            extra_tags=extra_tags, role=role, axes=axes)
    observers = (tracker, *observers)
    try:
        if progress:
            with RichProgress(console) as bar:
                loop.observers = (*observers, bar)
                _, state = loop.run(state)
        else:
            loop.observers = observers
            _, state = loop.run(state)
    except BaseException:
        tracker.fail()
        raise
    return ExperimentResult(tracker.run_id, state)


def run_baseline(cfg: ExperimentConfig, tracking_uri: str | None = None,
                 dataset: ActiveDataset | None = None, progress: bool = True) -> ExperimentResult:
    """Supervised training on the whole training split: the ceiling for learning curves.

    It is the loop with a budget that buys every pool label up front (one round, no query),
    logged as a baseline: named ``baseline+<augmentation>/s<seed>``, no strategy tag, and its
    metrics as ``ceiling_*`` at step = pool size, so learning-curve charts never show it.
    """
    dataset = dataset if dataset is not None else load_dataset(cfg)
    n = dataset.pool_size
    full = cfg.model_copy(update={"budget": cfg.budget.model_copy(
        update={"initial": n, "per_round": n, "total": n})})
    return run_experiment(full, tracking_uri, dataset=dataset, progress=progress, role="baseline")


def run_baselines(cfgs: list[ExperimentConfig], tracking_uri: str | None = None,
                  progress: bool = True) -> list[ExperimentResult]:
    """:func:`run_baseline` for each config that has no FINISHED baseline in its experiment yet.

    A baseline counts as done for a config when it shares the config's training setting
    (everything but query, budget, seed and name) and seed.
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
            for r in client.search_runs([exp.experiment_id], f"tags.`{ROLE_TAG}` = 'baseline'",
                                        max_results=5000))
        if not done:
            results.append(run_baseline(cfg, tracking_uri, progress=progress))
    return results
