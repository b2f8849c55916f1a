"""Which runs a report reads and how they pool: curves from MLflow, cells of replicates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from al4ml.errors import ConfigError
from al4ml.runs import (
    AUGMENTATION,
    AXES_TAG,
    CEILING_PREFIX,
    COST_METRIC,
    DESIGN_TAG,
    GRID_TAG,
    ROLE_TAG,
    SEARCH,
    STRATEGY,
    VERSION_TAG,
    label,
    logged_config,
    policy_label,
    setting,
    setting_hash,
    training_setting,
    validation,
)

METRIC = "test_accuracy"


class NoCurves(ConfigError):
    """A source without a finished active-learning run (it may hold baselines only)."""


PARAMS = "augmentation.params."


@dataclass(frozen=True)
class Curve:
    """One run's learning curve and its flat config (defaults filled in)."""

    run_id: str
    seed: str
    config: dict[str, str]
    steps: np.ndarray
    values: np.ndarray
    labels: float | None = None
    """Labels bought by the end (for a curve over cost)."""


@dataclass
class ReportCell:
    """Replicates of one setting: their curves by seed and the cell's label values."""

    key: str
    setting: dict[str, str]
    curves: dict[str, Curve]
    values: dict[str, str] = field(default_factory=dict)
    ceiling: float | None = None
    validation: str = "none"
    """Which held-out data chose its epochs or policies, counted or not (:func:`al4ml.runs.validation`)."""

    @property
    def label(self) -> str:
        """``entropy+trivialaugment`` (plus every other labelled key)."""
        return label(self.values)

    @property
    def seeds(self) -> int:
        """Number of replicates."""
        return len(self.curves)


@dataclass
class Source:
    """What a report covers: a grid (parent run) or an experiment."""

    title: str
    experiment_id: str
    parent: str | None = None
    version: int | None = None
    axes: dict[str, list[Any]] = field(default_factory=dict)
    design: str | None = None
    """A sequential grid's design tag (``al4ml grid --until-resolved``)."""


def history(client: MlflowClient, run_id: str, metric: str = METRIC) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of a metric, sorted by step (last value per step wins)."""
    points = {
        m.step: m.value
        for m in sorted(client.get_metric_history(run_id, metric), key=lambda m: (m.step, m.timestamp))
    }
    steps = np.array(sorted(points), dtype=float)
    return steps, np.array([points[s] for s in sorted(points)], dtype=float)


def _defaults() -> dict[str, str]:
    from al4ml.config import ExperimentConfig

    return ExperimentConfig().flat()


def resolve_source(client: MlflowClient, source: str) -> Source:
    """A grid parent run id, or an experiment name."""
    try:
        run = client.get_run(source)
    except MlflowException:
        exp = client.get_experiment_by_name(source)
        if exp is None:
            raise ConfigError(
                f"no grid run or experiment named {source!r} in {client.tracking_uri}"
            ) from None
        axes: dict[str, list[Any]] = {}
        for grid in client.search_runs(
            [exp.experiment_id], f"tags.`{ROLE_TAG}` = 'grid'", order_by=["attributes.start_time ASC"]
        ):
            for key, values in json.loads(grid.data.tags.get(AXES_TAG, "{}")).items():
                axes[key] = axes.get(key, []) + [v for v in values if v not in axes.get(key, [])]
        return Source(source, exp.experiment_id, axes=axes)
    tags = run.data.tags
    if tags.get(ROLE_TAG) != "grid":
        raise ConfigError(
            f"run {source} is not a grid's parent run; pass a grid run id or an experiment name"
        )
    if AXES_TAG in tags:
        axes = json.loads(tags[AXES_TAG])
    else:  # grids logged before the axes tag: key names only
        axes = {k.strip(): [] for k in run.data.params.get("axes", "").split(",") if k.strip()}
    return Source(
        tags.get(GRID_TAG, source),
        run.info.experiment_id,
        run.info.run_id,
        int(tags.get(VERSION_TAG, "1")),
        axes,
        tags.get(DESIGN_TAG),
    )


def on_cost_axis(client: MlflowClient, run_id: str, name: str, steps: np.ndarray) -> np.ndarray:
    """The spent cost at each of a run's label counts ``steps`` (its ``oracle_cost`` metric).

    Raises:
        ConfigError: the run logged no cost (it ran without ``oracle.cost``).
    """
    cost_steps, costs = history(client, run_id, COST_METRIC)
    by_step = dict(zip(cost_steps.tolist(), costs.tolist(), strict=True))
    missing = [s for s in steps.tolist() if s not in by_step]
    if missing:
        raise ConfigError(
            f"run {name} ({run_id}) logged no {COST_METRIC} at {int(missing[0])} "
            "labels (it ran without oracle.cost or budget.unit: cost); report it "
            "with --x labels"
        )
    return np.array([by_step[s] for s in steps.tolist()])


def common_grid(curves: list[Curve]) -> list[Curve]:
    """Curves on one x grid: unchanged when they share their x values, else each read as a
    step function (the value of its last point at or below x) on an even grid spanning the
    range every curve covers, with as many points as the longest curve."""
    if len({tuple(c.steps.tolist()) for c in curves}) <= 1:
        return curves
    lo, hi = max(c.steps[0] for c in curves), min(c.steps[-1] for c in curves)
    if not hi > lo:
        raise ConfigError(
            f"the runs' costs do not overlap (each run's spending starts at or above "
            f"{lo:g} and one ends at {hi:g}); report them with --x labels"
        )
    grid = np.linspace(lo, hi, max(len(c.steps) for c in curves))
    return [
        Curve(
            c.run_id,
            c.seed,
            c.config,
            grid,
            c.values[np.searchsorted(c.steps, grid, side="right") - 1],
            c.labels,
        )
        for c in curves
    ]


def collect(
    client: MlflowClient, source: Source, metric: str = METRIC, x: str = "labels"
) -> tuple[list[Curve], list[tuple[dict[str, str], str, float]]]:
    """Finished learning curves of the source and the experiment's finished baselines.

    Args:
        client: MLflow client.
        source: What to report.
        metric: The metric on the curves' y axis.
        x: ``labels`` (step) or ``cost`` (the spent cost at each step).

    Returns:
        Curves, and baselines as ``(training setting, seed, metric value)``.
    """
    query = f"tags.mlflow.parentRunId = '{source.parent}'" if source.parent else ""
    defaults = _defaults()
    curves = []
    for r in client.search_runs(
        [source.experiment_id], query, max_results=50000, order_by=["attributes.start_time DESC"]
    ):
        if r.info.status != "FINISHED" or r.data.tags.get(ROLE_TAG) in ("grid", "baseline"):
            continue
        steps, values = history(client, r.info.run_id, metric)
        if len(steps):
            labels = None
            if x == "cost":
                labels, steps = float(steps[-1]), on_cost_axis(client, r.info.run_id, r.info.run_name, steps)
            config = logged_config(r.data.params, defaults)
            curves.append(Curve(r.info.run_id, config.get("seed", "0"), config, steps, values, labels))
    if not curves:
        raise NoCurves(f"no finished active-learning runs found for {source.title!r}")
    if x == "cost":
        curves = common_grid(curves)
    baselines = []
    for r, config in finished_baselines(client, source):
        value = r.data.metrics.get(CEILING_PREFIX + metric, r.data.metrics.get(metric))
        if value is not None:
            baselines.append((training_setting(config), config.get("seed", "0"), float(value)))
    return curves, baselines


def finished_baselines(client: MlflowClient, source: Source) -> list[tuple[Any, dict[str, str]]]:
    """The source experiment's FINISHED full-data baselines, newest first, each with its flat
    config (keys it did not log at their defaults)."""
    defaults = _defaults()
    return [
        (r, logged_config(r.data.params, defaults))
        for r in client.search_runs(
            [source.experiment_id],
            f"tags.`{ROLE_TAG}` = 'baseline'",
            max_results=5000,
            order_by=["attributes.start_time DESC"],
        )
        if r.info.status == "FINISHED"
    ]


def label_keys(settings: list[dict[str, str]], axes: dict[str, list[Any]]) -> list[str]:
    """Strategy, augmentation, then every grid axis and every other key that differs.

    Augmentation settings that each augmentation has one value of (a fixed policy's options,
    a search's settings) are no labels of their own: they belong to the augmentation's value
    (:func:`build_cells` names them in it), so that fixed policies and searches are values of
    one augmentation axis, compared along it.
    """
    folded = _folded(settings)
    varying = [k for k in _varying(settings) if k not in folded]
    ordered = [STRATEGY, AUGMENTATION] + [k for k in axes if k in varying]
    return ordered + [k for k in varying if k not in ordered]


def _varying(settings: list[dict[str, str]]) -> list[str]:
    """The keys whose value differs between ``settings`` (missing counts as a value), sorted."""
    return [k for k in sorted({k for s in settings for k in s}) if len({s.get(k) for s in settings}) > 1]


def _folded(settings: list[dict[str, str]]) -> list[str]:
    """Varying augmentation keys whose value each augmentation name fixes."""
    names = {s.get(AUGMENTATION) for s in settings}
    return [
        k
        for k in _varying(settings)
        if (k in (SEARCH, PARAMS[:-1]) or k.startswith(PARAMS))
        and all(len({s.get(k) for s in settings if s.get(AUGMENTATION) == a}) == 1 for a in names)
    ]


def build_cells(
    curves: list[Curve],
    axes: dict[str, list[Any]],
    baselines: Sequence[tuple[dict[str, str], str, float]] = (),
) -> list[ReportCell]:
    """Group curves by setting (config minus seed), label the cells, attach their ceilings.

    A fixed policy's options that only it has are named in its augmentation value
    (``randaugment(m=30, n=2)``).
    """
    by_key: dict[str, ReportCell] = {}
    for c in curves:
        key = setting_hash(c.config)
        cell = by_key.setdefault(key, ReportCell(key, setting(c.config), {}, validation=validation(c.config)))
        if c.seed in cell.curves:  # the same seed twice: keep the newest run (runs come newest first)
            continue
        cell.curves[c.seed] = c
    cells = list(by_key.values())
    settings = [c.setting for c in cells]
    keys = label_keys(settings, axes)
    options = [k for k in _folded(settings) if k.startswith(PARAMS)]
    for cell in cells:
        cell.values = {k: cell.setting.get(k, "-") for k in keys}
        if AUGMENTATION in cell.values:
            cell.values[AUGMENTATION] = policy_label(
                cell.values[AUGMENTATION],
                {k[len(PARAMS) :]: cell.setting[k] for k in options if k in cell.setting},
            )
        ceil = [v for s, _, v in baselines if s == training_setting(cell.setting)]
        cell.ceiling = float(np.mean(ceil)) if ceil else None
    return sorted(cells, key=lambda c: [_order(k, c.values[k], axes) for k in keys])


def _order(key: str, value: str, axes: dict[str, list[Any]]) -> tuple[int, str]:
    order = [str(v) for v in axes.get(key, [])]
    return (order.index(value), "") if value in order else (len(order), value)


def chosen_policies(client: MlflowClient, run_id: str) -> list[tuple[int, str]]:
    """A searched run's choices, ``(labels, policy label)`` per search, from its trial table
    (empty for a run without one)."""
    import csv
    import tempfile

    from al4ml.runs import TRIALS_ARTIFACT, policy_label

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, TRIALS_ARTIFACT, tmp)
        except (MlflowException, OSError):
            return []
        with open(path, newline="") as f:
            return [
                (int(r["n_labeled"]), policy_label(r["policy"], json.loads(r["params"])))
                for r in csv.DictReader(f)
                if r["chosen"] == "True"
            ]
