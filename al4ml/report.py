"""Reports over many runs: learning curves with confidence bands, AULC, paired comparisons.

Reads runs through MLflow's client API (a grid's parent run id, or an experiment name) and
writes PNG plots, CSV tables, ``report.md`` and ``report.html`` into one folder; for a grid
the same files are logged as artifacts of its parent run, so the MLflow UI shows them.

Which runs are pooled: runs are replicates (one *cell*) only when their whole resolved config,
rebuilt from their logged params, is equal but for the seed (:func:`al4ml.runs.setting`).
Cells are labelled by the grid's axes and by every other key whose value differs between
cells, so two cells never share a label and no run is ever averaged with a differently
configured one.

Statistics (seeds are the replicates):
* mean and 95 % t-interval of the metric at each label count, the band clipped to [0, 1];
  cells with fewer than 3 seeds are flagged (their intervals say little);
* normalised area under the learning curve (AULC): the label axis scaled to [0, 1] between
  the first and last budget, trapezoid rule, so 1.0 means perfect accuracy at every budget;
* labels needed to reach ``--target``: the median over *all* seeds, a seed that never reached
  it counting as above the budget (censored; a median that depends on a censored seed is
  printed as the bound it is known to exceed), with the share of seeds that reached it;
* with ``--x cost`` every one of these is taken over the spent cost (metric ``oracle_cost``,
  logged by runs with ``oracle.cost``) instead of the label count; where seeds spent
  different amounts per round (prices per class), each curve is read as a step function
  (what the spend had bought so far) on one common grid of costs;
* paired comparisons of AULC along every axis against its reference value (``random``
  strategy, ``none`` augmentation, else the axis' first value), the rest of the config equal:
  paired t-test (``scipy.stats.ttest_rel``) and, with 6 or more seeds, Wilcoxon's signed-rank
  test, both Holm-corrected over all the report's comparisons; a verdict (better, worse, not
  resolved at alpha = 0.05 after correction, by the t-test; fewer than 3 pairs get no
  verdict); and for unresolved ones, the seeds a paired t-test would need to resolve the
  observed difference with 80 % power at the observed spread (two-sided, at alpha = 0.05 /
  the number of comparisons, Holm's strictest step; noncentral t, by quadrature where
  SciPy's noncentral t has no answer);
* pairwise win matrices as Ash et al. (2020) compute them, along every axis: for every pair
  (i, j), every setting of the other axes and every label count, a paired two-sided t-test
  over seeds; i wins when it is significantly better at 95 %; entries are summed over
  settings, each budget weighing 1 / (number of budgets).
"""

from __future__ import annotations

import html
import json
import math
import sys
import types
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from scipy import stats

from al4ml.errors import ConfigError
from al4ml.runs import (
    AUGMENTATION,
    AXES_TAG,
    CEILING_PREFIX,
    COST_METRIC,
    GRID_TAG,
    ROLE_TAG,
    STRATEGY,
    VERSION_TAG,
    check_x_axis,
    label,
    logged_config,
    setting,
    setting_hash,
    short,
    training_setting,
)

METRIC = "test_accuracy"
ALPHA = 0.05
POWER = 0.8
MIN_SEEDS = 3
MAX_SEEDS = 10_000
REFERENCES = {STRATEGY: "random", AUGMENTATION: "none"}


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
class Cell:
    """Replicates of one setting: their curves by seed and the cell's label values."""

    key: str
    setting: dict[str, str]
    curves: dict[str, Curve]
    values: dict[str, str] = field(default_factory=dict)
    ceiling: float | None = None

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


def history(client: MlflowClient, run_id: str, metric: str = METRIC) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of a metric, sorted by step (last value per step wins)."""
    points = {m.step: m.value for m in sorted(client.get_metric_history(run_id, metric),
                                              key=lambda m: (m.step, m.timestamp))}
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
            raise ConfigError(f"no grid run or experiment named {source!r} in "
                              f"{client.tracking_uri}") from None
        axes: dict[str, list[Any]] = {}
        for grid in client.search_runs([exp.experiment_id], f"tags.`{ROLE_TAG}` = 'grid'",
                                       order_by=["attributes.start_time ASC"]):
            for key, values in json.loads(grid.data.tags.get(AXES_TAG, "{}")).items():
                axes[key] = axes.get(key, []) + [v for v in values if v not in axes.get(key, [])]
        return Source(source, exp.experiment_id, axes=axes)
    tags = run.data.tags
    if tags.get(ROLE_TAG) != "grid":
        raise ConfigError(f"run {source} is not a grid's parent run; pass a grid run id or an "
                          "experiment name")
    if AXES_TAG in tags:
        axes = json.loads(tags[AXES_TAG])
    else:  # grids logged before the axes tag: key names only
        axes = {k.strip(): [] for k in run.data.params.get("axes", "").split(",") if k.strip()}
    return Source(tags.get(GRID_TAG, source), run.info.experiment_id, run.info.run_id,
                  int(tags.get(VERSION_TAG, "1")), axes)


def on_cost_axis(client: MlflowClient, run_id: str, name: str, steps: np.ndarray) -> np.ndarray:
    """The spent cost at each of a run's label counts ``steps`` (its ``oracle_cost`` metric).

    Raises:
        ConfigError: the run logged no cost (it ran without ``oracle.cost``).
    """
    cost_steps, costs = history(client, run_id, COST_METRIC)
    by_step = dict(zip(cost_steps.tolist(), costs.tolist(), strict=True))
    missing = [s for s in steps.tolist() if s not in by_step]
    if missing:
        raise ConfigError(f"run {name} ({run_id}) logged no {COST_METRIC} at {int(missing[0])} "
                          "labels (it ran without oracle.cost or budget.unit: cost); report it "
                          "with --x labels")
    return np.array([by_step[s] for s in steps.tolist()])


def common_grid(curves: list[Curve]) -> list[Curve]:
    """Curves on one x grid: unchanged when they share their x values, else each read as a
    step function (the value of its last point at or below x) on an even grid spanning the
    range every curve covers, with as many points as the longest curve."""
    if len({tuple(c.steps.tolist()) for c in curves}) <= 1:
        return curves
    lo, hi = max(c.steps[0] for c in curves), min(c.steps[-1] for c in curves)
    if not hi > lo:
        raise ConfigError(f"the runs' costs do not overlap (each run's spending starts at or above "
                          f"{lo:g} and one ends at {hi:g}); report them with --x labels")
    grid = np.linspace(lo, hi, max(len(c.steps) for c in curves))
    return [Curve(c.run_id, c.seed, c.config, grid,
                  c.values[np.searchsorted(c.steps, grid, side="right") - 1], c.labels)
            for c in curves]


def collect(client: MlflowClient, source: Source, metric: str = METRIC, x: str = "labels"
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
    for r in client.search_runs([source.experiment_id], query, max_results=50000,
                                order_by=["attributes.start_time DESC"]):
        if r.info.status != "FINISHED" or r.data.tags.get(ROLE_TAG) in ("grid", "baseline"):
            continue
        steps, values = history(client, r.info.run_id, metric)
        if len(steps):
            labels = None
            if x == "cost":
                labels, steps = float(steps[-1]), on_cost_axis(client, r.info.run_id,
                                                               r.info.run_name, steps)
            config = logged_config(r.data.params, defaults)
            curves.append(Curve(r.info.run_id, config.get("seed", "0"), config, steps, values,
                                labels))
    if not curves:
        raise ConfigError(f"no finished active-learning runs found for {source.title!r}")
    if x == "cost":
        curves = common_grid(curves)
    baselines = []
    for r in client.search_runs([source.experiment_id], f"tags.`{ROLE_TAG}` = 'baseline'",
                                max_results=5000):
        value = r.data.metrics.get(CEILING_PREFIX + metric, r.data.metrics.get(metric))
        if r.info.status == "FINISHED" and value is not None:
            config = logged_config(r.data.params, defaults)
            baselines.append((training_setting(config), config.get("seed", "0"), float(value)))
    return curves, baselines


def label_keys(settings: list[dict[str, str]], axes: dict[str, list[Any]]) -> list[str]:
    """Strategy, augmentation, then every grid axis and every other key that differs."""
    keys = sorted({k for s in settings for k in s})
    varying = [k for k in keys if len({s.get(k) for s in settings}) > 1]
    ordered = [STRATEGY, AUGMENTATION] + [k for k in axes if k in varying]
    return ordered + [k for k in varying if k not in ordered]


def build_cells(curves: list[Curve], axes: dict[str, list[Any]],
                baselines: list[tuple[dict[str, str], str, float]] = ()) -> list[Cell]:
    """Group curves by setting (config minus seed), label the cells, attach their ceilings."""
    by_key: dict[str, Cell] = {}
    for c in curves:
        key = setting_hash(c.config)
        cell = by_key.setdefault(key, Cell(key, setting(c.config), {}))
        if c.seed in cell.curves:  # the same seed twice: keep the newest run (runs come newest first)
            continue
        cell.curves[c.seed] = c
    cells = list(by_key.values())
    keys = label_keys([c.setting for c in cells], axes)
    for cell in cells:
        cell.values = {k: cell.setting.get(k, "-") for k in keys}
        ceil = [v for s, _, v in baselines if s == training_setting(cell.setting)]
        cell.ceiling = float(np.mean(ceil)) if ceil else None
    return sorted(cells, key=lambda c: [_order(k, c.values[k], axes) for k in keys])


def _order(key: str, value: str, axes: dict[str, list[Any]]) -> tuple[int, str]:
    order = [str(v) for v in axes.get(key, [])]
    return (order.index(value), "") if value in order else (len(order), value)


def mean_ci(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of the 95 % t-interval along ``axis`` (NaN half-width for n = 1)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    half = stats.t.ppf(0.975, n - 1) * x.std(axis=axis, ddof=1) / math.sqrt(n)
    return mean, half


def aulc(steps: np.ndarray, values: np.ndarray) -> float:
    """Normalised area under a learning curve (label axis scaled to [0, 1], trapezoid)."""
    if len(steps) == 1:
        return float(values[0])
    x = (steps - steps[0]) / (steps[-1] - steps[0])
    return float(np.trapezoid(values, x))


def labels_to_reach(steps: np.ndarray, values: np.ndarray, target: float) -> float:
    """First label count whose value is >= ``target`` (``inf`` if never: censored)."""
    hit = np.nonzero(values >= target)[0]
    return float(steps[hit[0]]) if len(hit) else math.inf


def aligned(cell: Cell, seeds: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Steps common to the given seeds' curves and a ``[seeds, steps]`` value matrix."""
    seeds = seeds or sorted(cell.curves)
    common = sorted(set.intersection(*(set(cell.curves[s].steps.tolist()) for s in seeds)))
    vals = np.stack([[dict(zip(cell.curves[s].steps.tolist(), cell.curves[s].values.tolist(),
                                strict=True))[x] for x in common] for s in seeds])
    return np.array(common, dtype=float), vals


@dataclass
class CellSummary:
    """A cell's AULC, final value and labels to the target."""

    cell: Cell
    budget: float
    aulc_mean: float
    aulc_ci: float
    final_mean: float
    final_ci: float
    reach_median: float
    reached: int
    labels_mean: float | None = None
    """Mean labels bought by the end (curves over cost)."""
    reach_above: float | None = None
    """Where the median is censored (``reach_median`` is inf): the value it is known to exceed."""


def summarize(cells: list[Cell], target: float) -> list[CellSummary]:
    """One :class:`CellSummary` per cell."""
    out = []
    for cell in cells:
        steps, vals = aligned(cell)
        a_mean, a_ci = mean_ci(np.array([aulc(steps, v) for v in vals]))
        f_mean, f_ci = mean_ci(vals[:, -1])
        reach = np.array([labels_to_reach(steps, v, target) for v in vals])
        bought = [c.labels for c in cell.curves.values() if c.labels is not None]
        median, above = censored_median(reach, float(steps[-1]))
        out.append(CellSummary(cell, float(steps[-1]), float(a_mean), float(a_ci), float(f_mean),
                               float(f_ci), median, int(np.isfinite(reach).sum()),
                               float(np.mean(bought)) if bought else None, above))
    return out


def censored_median(reach: np.ndarray, budget: float) -> tuple[float, float | None]:
    """Median of per-seed labels to target where a censored seed (inf) lies above ``budget``.

    Returns ``(median, None)`` where it is known, else ``(inf, bound)``: with one seed at 60
    labels and one that never reached the target by 120, the median is only known to exceed
    (60 + 120) / 2 = 90.
    """
    v = np.sort(np.asarray(reach, dtype=float))
    lo, hi = v[(len(v) - 1) // 2], v[len(v) // 2]
    if math.isfinite(hi):
        return float((lo + hi) / 2), None
    return math.inf, float((lo + budget) / 2 if math.isfinite(lo) else budget)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values (NaN stays NaN); controls the family-wise error."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order]).clip(max=1.0)
    out[order] = adjusted
    return out


def paired_power(effect: float, n: int | np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Power of a two-sided paired t-test with ``n`` pairs at standardised effect ``effect``.

    SciPy's noncentral t answers NaN at large noncentrality with few degrees of freedom
    (e.g. d = 3.25 at 4 pairs); there the power is integrated directly (:func:`_power_quad`).
    """
    n = np.atleast_1d(np.asarray(n, dtype=float))
    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = abs(effect) * np.sqrt(n)
    with np.errstate(all="ignore"):
        power = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
    for i in np.flatnonzero(~np.isfinite(power)):
        power[i] = _power_quad(float(nc[i]), float(df[i]), float(crit[i]))
    return power


def _power_quad(nc: float, df: float, crit: float) -> float:
    """P(|T| > crit) for T = (Z + nc) / sqrt(V / df), V ~ chi2(df): one integral over V."""
    from scipy import integrate

    def given(v: float) -> float:
        s = crit * math.sqrt(v / df)
        return stats.chi2.pdf(v, df) * (stats.norm.sf(s - nc) + stats.norm.cdf(-s - nc))

    return float(min(1.0, integrate.quad(given, 0, math.inf, limit=200)[0]))


def seeds_needed(diffs: np.ndarray, power: float = POWER, alpha: float = ALPHA) -> float:
    """Fewest pairs for which a paired t-test resolves the observed mean difference with
    ``power`` at the observed spread; ``nan`` when there is no difference, ``inf`` past
    :data:`MAX_SEEDS`."""
    mean, sd = float(np.mean(diffs)), float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan
    if mean == 0 or not math.isfinite(sd):
        return math.nan
    if sd == 0:
        return 2.0
    n = np.arange(2, MAX_SEEDS + 1)
    ok = np.flatnonzero(paired_power(mean / sd, n, alpha) >= power)
    return float(n[ok[0]]) if len(ok) else math.inf


@dataclass
class Comparison:
    """A paired comparison of AULC over the seeds two cells share."""

    cell: Cell
    against: Cell
    axis: str
    diffs: np.ndarray
    p_t: float = math.nan
    p_wilcoxon: float = math.nan
    p_t_holm: float = math.nan
    p_wilcoxon_holm: float = math.nan
    family: int = 1

    @property
    def seeds(self) -> int:
        """Shared seeds (pairs)."""
        return len(self.diffs)

    @property
    def verdict(self) -> str:
        """``better`` / ``worse`` by the paired t-test at alpha after Holm's correction, else
        ``not resolved``; ``too few seeds`` below :data:`MIN_SEEDS` pairs (with 2 pairs the
        t-test has one degree of freedom, and a tiny spread would decide)."""
        if self.seeds < MIN_SEEDS:
            return "too few seeds"
        if not self.p_t_holm < ALPHA:
            return "not resolved"
        return "better" if np.mean(self.diffs) > 0 else "worse"

    @property
    def seeds_needed(self) -> float:
        """For an unresolved comparison: pairs a t-test needs for 80 % power at the level of
        Holm's strictest step (alpha / number of comparisons), so that the difference resolves
        after the correction whatever its rank (at least :data:`MIN_SEEDS`); else NaN."""
        if self.verdict in ("better", "worse"):
            return math.nan
        return max(float(MIN_SEEDS), seeds_needed(self.diffs, alpha=ALPHA / self.family))


def _paired_tests(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided p of the paired t-test and (n >= 6) of Wilcoxon's signed-rank test."""
    if len(a) < 2:
        return math.nan, math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        p_t = float(stats.ttest_rel(a, b).pvalue)
        p_w = float(stats.wilcoxon(a, b).pvalue) if len(a) >= 6 and np.any(a != b) else math.nan
    return (1.0 if math.isnan(p_t) else p_t), p_w


def _reference(key: str, values: list[str]) -> str:
    ref = REFERENCES.get(key)
    return ref if ref in values else values[0]


def comparisons(cells: list[Cell]) -> list[Comparison]:
    """Every cell against the reference value of each labelled axis, the rest equal.

    The reference is ``random`` for strategies, ``none`` for augmentations and the first
    value (grid order) elsewhere; p-values are Holm-corrected over the whole list.
    """
    by_values = {tuple(c.values.items()): c for c in cells}
    keys = list(cells[0].values) if cells else []
    out = []
    for key in keys:
        values = list(dict.fromkeys(c.values[key] for c in cells))
        if len(values) < 2:
            continue
        ref = _reference(key, values)
        for cell in cells:
            if cell.values[key] == ref:
                continue
            base = by_values.get(tuple({**cell.values, key: ref}.items()))
            seeds = sorted(set(cell.curves) & set(base.curves)) if base else []
            if not seeds:
                continue
            a = np.array([aulc(cell.curves[s].steps, cell.curves[s].values) for s in seeds])
            b = np.array([aulc(base.curves[s].steps, base.curves[s].values) for s in seeds])
            out.append(Comparison(cell, base, key, a - b, *_paired_tests(a, b)))
    for c in out:
        c.family = len(out)
    for attr in ("p_t", "p_wilcoxon"):
        adjusted = holm(np.array([getattr(c, attr) for c in out]))
        for c, p in zip(out, adjusted, strict=True):
            setattr(c, attr + "_holm", float(p))
    return out


def win_matrix(cells: list[Cell], key: str) -> tuple[list[str], np.ndarray]:
    """Ash et al.'s pairwise win matrix of the values of ``key`` (settings: the other keys).

    Returns:
        Names and ``P [n, n]``: ``P[i, j]`` sums over settings of the fraction of label counts
        at which i beats j in a paired two-sided t-test at 95 % over seeds.
    """
    names = list(dict.fromkeys(c.values[key] for c in cells))
    rest: dict[tuple, dict[str, Cell]] = defaultdict(dict)
    for c in cells:
        rest[tuple((k, v) for k, v in c.values.items() if k != key)][c.values[key]] = c
    p = np.zeros((len(names), len(names)))
    for group in rest.values():
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                if i == j or a not in group or b not in group:
                    continue
                seeds = sorted(set(group[a].curves) & set(group[b].curves))
                if len(seeds) < 2:
                    continue
                steps_a, va = aligned(group[a], seeds)
                steps_b, vb = aligned(group[b], seeds)
                common = sorted(set(steps_a.tolist()) & set(steps_b.tolist()))
                ia = [steps_a.tolist().index(x) for x in common]
                ib = [steps_b.tolist().index(x) for x in common]
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore", RuntimeWarning)
                    res = stats.ttest_rel(va[:, ia], vb[:, ib], axis=0)
                wins = (np.nan_to_num(res.pvalue, nan=1.0) < ALPHA) & (res.statistic > 0)
                p[i, j] += float(np.mean(wins))
    return names, p


def _head(key: str) -> str:
    """Column heading of a config key (``strategy``, ``augmentation``, else the key)."""
    return {STRATEGY: "strategy", AUGMENTATION: "augmentation"}.get(key, key)


def _fmt(x: float | None, ci: float | None = None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    s = f"{x:.{digits}f}"
    if ci is not None and not math.isnan(ci):
        s += f" ± {ci:.{digits}f}"
    return s


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _fmt_labels(median: float, above: float | None) -> str:
    return f"> {above:.4g}" if above is not None else f"{median:.4g}"


def _fmt_in(x: float, ci: float, lo: float, hi: float, digits: int = 3) -> str:
    """``x ± ci``, or ``x [a, b]`` with the interval's ends clipped where it leaves [lo, hi]."""
    if math.isnan(x) or math.isnan(ci) or (x - ci >= lo and x + ci <= hi):
        return _fmt(x, ci, digits)
    return f"{x:.{digits}f} [{max(lo, x - ci):.{digits}f}, {min(hi, x + ci):.{digits}f}]"


def _seed_range(need: list[float]) -> str:
    lo, hi = _fmt_seeds(min(need)), _fmt_seeds(max(need))
    return lo if lo == hi else f"{lo} to {hi}"


def _fmt_seeds(n: float) -> str:
    if math.isnan(n):
        return "–"
    return f"> {MAX_SEEDS:,}".replace(",", " ") if math.isinf(n) else f"{n:.0f}"


def plot_curves(cells: list[Cell], path: Path, metric: str = METRIC, x: str = "labels") -> None:
    """Mean learning curve with its 95 % band (clipped to [0, 1]) per cell, one panel per
    augmentation when augmentations vary; full-data ceilings dashed."""
    panel_key = AUGMENTATION if len({c.values[AUGMENTATION] for c in cells}) > 1 else None
    panels = list(dict.fromkeys(c.values[panel_key] for c in cells)) if panel_key else [None]
    lines = list(dict.fromkeys(_line(c, panel_key) for c in cells))
    colors = {name: f"C{i % 10}" for i, name in enumerate(lines)}
    styles = {name: ("-", "--", ":", "-.")[(i // 10) % 4] for i, name in enumerate(lines)}
    fig = Figure(figsize=(5.2 * len(panels), 4.4))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    bounded = not metric.endswith("loss")
    for ax, panel in zip(axes, panels, strict=True):
        ceilings: dict[float, str] = {}
        for cell in cells:
            if panel_key and cell.values[panel_key] != panel:
                continue
            name = _line(cell, panel_key)
            steps, vals = aligned(cell)
            m, h = mean_ci(vals)
            few = " – few seeds" if cell.seeds < MIN_SEEDS else ""
            ax.plot(steps, m, marker="o", ms=3, color=colors[name], ls=styles[name],
                    label=f"{name} (n={cell.seeds}{few})")
            if not np.isnan(h).all():
                lo, hi = (m - h, m + h)
                if bounded:
                    lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
                ax.fill_between(steps, lo, hi, color=colors[name], alpha=0.16)
            if cell.ceiling is not None:
                ceilings.setdefault(cell.ceiling, name)
        for value, name in ceilings.items():
            suffix = f" ({name})" if len(ceilings) > 1 else ""
            ax.axhline(value, color="k", ls="--", lw=1, label=f"full training set{suffix}")
        ax.set_title(f"augmentation: {panel if panel_key else cells[0].values[AUGMENTATION]}",
                     fontsize=10)
        ax.set_xlabel("labeled images" if x == "labels" else "spent cost (oracle.cost units)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel(f"{metric.replace('_', ' ')} (mean, 95 % CI over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _line(cell: Cell, panel_key: str | None) -> str:
    return label({k: v for k, v in cell.values.items() if k != panel_key})


def plot_win_matrix(names: list[str], p: np.ndarray, path: Path, title: str) -> None:
    """Heatmap of a pairwise win matrix (row beats column)."""
    fig = Figure(figsize=(1.1 * len(names) + 2.5, 1.0 * len(names) + 1.5))
    ax = fig.subplots()
    im = ax.imshow(p, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{p[i, j]:.2f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


Block = tuple[str, Any]


def render_markdown(blocks: list[Block]) -> str:
    """Blocks (``h1``/``h2``/``p``/``table``/``img``) as Markdown."""
    out = []
    for kind, content in blocks:
        if kind in ("h1", "h2"):
            out.append(("# " if kind == "h1" else "## ") + content)
        elif kind == "p":
            out.append(content)
        elif kind == "img":
            out.append(f"![{content}]({content})")
        elif kind == "table":
            header, rows = content
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
        out.append("")
    return "\n".join(out)


def render_html(blocks: list[Block], title: str) -> str:
    """The same blocks as a standalone HTML page."""
    body = []
    for kind, content in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{html.escape(content)}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{html.escape(content)}</p>")
        elif kind == "img":
            body.append(f'<p><img src="{html.escape(content)}" alt="{html.escape(content)}"></p>')
        elif kind == "table":
            header, rows = content
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            trs = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                          for r in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:"
             "collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
             "img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def config_summary(cells: list[Cell]) -> str:
    """The config the cells share, in one line (what varies is in the cell labels)."""
    shared = {k: v for k, v in cells[0].setting.items() if all(c.setting.get(k) == v for c in cells)}

    def get(key: str) -> str | None:
        return shared.get(key)

    parts = []
    dataset = get("dataset.name")
    if dataset:
        parts.append(get("dataset.options.flag") or dataset)
    if get("model.name"):
        opts = [f"{short(k)} {v}" for k, v in shared.items() if k.startswith("model.options.")]
        parts.append(get("model.name") + (f" ({', '.join(opts)})" if opts else ""))
    train = [f"{get('training.epochs')} epochs" if get("training.epochs") else None,
             f"≥ {get('training.min_steps')} steps" if get("training.min_steps") not in (None, "0")
             else None,
             f"batch {get('training.batch_size')}" if get("training.batch_size") else None,
             f"lr {get('training.lr')}" if get("training.lr") else None]
    if any(train):
        parts.append(", ".join(t for t in train if t))
    if get("budget.initial") and get("budget.total"):
        step = f" (+{get('budget.per_round')} a round)" if get("budget.per_round") else ""
        if get("budget.unit") == "cost":
            parts.append(f"labels from {get('budget.initial')}{step} until a cost of "
                         f"{get('budget.total')} is spent")
        else:
            parts.append(f"labels {get('budget.initial')} → {get('budget.total')}{step}")
    prices = get("oracle.cost.per_class")
    if prices and prices != "None":
        parts.append(f"price per answered class {prices}")
    elif get("oracle.cost.per_label") not in (None, "1.0"):
        parts.append(f"price per label {get('oracle.cost.per_label')}")
    return " · ".join(parts)


def build_report(client: MlflowClient, source: str, out: Path, target: float = 0.9,
                 metric: str = METRIC, x: str = "labels") -> Path:
    """Write the report for ``source`` (grid run id or experiment name) into ``out``.

    Args:
        client: MLflow client.
        source: A grid's parent run id, or an experiment name.
        out: Folder for the files.
        target: Target value of ``metric``.
        metric: The metric on the curves.
        x: The budget axis: ``labels``, or ``cost`` (the spent cost, for priced oracles).

    Returns:
        The path of ``report.md``.
    """
    check_x_axis(x)
    src = resolve_source(client, source)
    curves, baselines = collect(client, src, metric, x)
    cells = build_cells(curves, src.axes, baselines)
    keys = list(cells[0].values)
    heads = [_head(k) for k in keys]
    out.mkdir(parents=True, exist_ok=True)
    summaries = summarize(cells, target)
    bounds = (0.0, 1.0) if "loss" not in metric else (-math.inf, math.inf)  # scores live in [0, 1]
    pairs = comparisons(cells)
    plot_curves(cells, out / "learning_curves.png", metric, x)
    seeds = sorted({s for c in cells for s in c.curves}, key=lambda s: (len(s), s))
    what = (f"grid parent run {src.parent} (version {src.version})" if src.parent
            else f"experiment {src.title}")
    blocks: list[Block] = [
        ("h1", f"{src.title}: active-learning report"),
        ("p", config_summary(cells)),
        ("p", f"{len(curves)} runs of {what}, {len(cells)} cells, seeds "
              f"{', '.join(seeds)}, metric {metric}. Runs are pooled only when their whole "
              "config is equal but for the seed. Means with 95 % t-intervals over seeds "
              f"(bands clipped to [0, 1]). AULC: area under the learning curve with the {x} axis "
              "scaled to [0, 1] (trapezoid rule)."
              + (" The x axis is the spent cost (metric oracle_cost); curves whose seeds spent "
                 "different amounts are read as step functions on one grid of costs."
                 if x == "cost" else "")),
    ]
    few = [c.label for c in cells if c.seeds < MIN_SEEDS]
    if few:
        blocks.append(("p", f"Note: {len(few)} cell(s) have fewer than {MIN_SEEDS} seeds "
                            f"({', '.join(few)}); their intervals are very wide or undefined."))
    blocks += [("h2", "Learning curves"), ("img", "learning_curves.png"),
               ("h2", f"AULC and {x} to reach {target:.2f}"),
               ("p", f"{x.capitalize()} to reach {target:.2f}: the median over all seeds; a seed "
                     "that never reached it counts as above the budget (shown as > budget)."),
               ("table", (heads + ["seeds", "AULC", f"{metric} at the last budget",
                                   f"{x} to reach {target:.2f} (median)", "seeds reaching it"]
                          + ["labels bought (mean)"] * (x == "cost") + ["full training set"],
                          [[s.cell.values[k] for k in keys]
                           + [s.cell.seeds, _fmt_in(s.aulc_mean, s.aulc_ci, *bounds),
                              _fmt_in(s.final_mean, s.final_ci, *bounds),
                              _fmt_labels(s.reach_median, s.reach_above), f"{s.reached}/{s.cell.seeds}"]
                           + [_fmt(s.labels_mean, digits=1)] * (x == "cost")
                           + [_fmt(s.cell.ceiling)] for s in summaries]))]
    if pairs:
        blocks += [
            ("h2", "Paired comparisons (AULC, paired over seeds)"),
            ("p", f"Each cell against the reference value of one axis (strategy random, "
                  f"augmentation none, else the axis' first value), everything else equal. "
                  f"p: paired t-test; Wilcoxon signed-rank with 6 or more seeds; both "
                  f"Holm-corrected over the {len(pairs)} comparisons. Verdict: the paired t-test "
                  f"at alpha = {ALPHA} after correction; fewer than {MIN_SEEDS} pairs get none "
                  "(Wilcoxon is shown beside it: with n pairs its p cannot go below 2 / 2^n, "
                  "0.031 at 6, so after the correction it rarely could decide). "
                  f"Seeds needed: pairs a paired t-test needs to "
                  f"resolve the observed Δ with {POWER:.0%} power at the observed spread, at "
                  f"alpha = {ALPHA} / {len(pairs)} (two-sided), the level of Holm's strictest "
                  "step, so it resolves after the correction whatever its rank."),
            ("table", (["cell", "against", "axis", "seeds", "Δ AULC (95 % CI)", "p (t)",
                        "p (t, Holm)", "p (Wilcoxon, Holm)", "verdict", "seeds needed"],
                       [[p.cell.label, p.against.label, _head(p.axis), p.seeds,
                         _fmt_in(*mean_ci(p.diffs), -bounds[1], bounds[1]), _fmt_p(p.p_t),
                         _fmt_p(p.p_t_holm),
                         _fmt_p(p.p_wilcoxon_holm), p.verdict, _fmt_seeds(p.seeds_needed)]
                        for p in pairs]))]
        unresolved = [p for p in pairs if p.verdict in ("not resolved", "too few seeds")]
        if unresolved:
            need = [p.seeds_needed for p in unresolved if not math.isnan(p.seeds_needed)]
            blocks.append(("p", f"{len(unresolved)} of {len(pairs)} comparisons are not resolved "
                                "with the seeds run so far"
                                + (f"; resolving them would take {_seed_range(need)} seeds in "
                                   "all at the observed spreads." if need else ".")))
    for key in keys:
        names, p = win_matrix(cells, key)
        if len(names) > 1:
            png = f"win_matrix_{_head(key)}.png"
            settings = "the other axes" if len(keys) > 1 else "one setting"
            plot_win_matrix(names, p, out / png, f"{_head(key)}: row beats column")
            blocks += [("h2", f"Pairwise win matrix: {_head(key)}"),
                       ("p", f"Entry (i, j): summed over settings of {settings}, the fraction of "
                             f"{'label budgets' if x == 'labels' else 'costs'} at which i beats "
                             "j (paired two-sided t-test over seeds, 95 %)."),
                       ("img", png),
                       ("table", ([_head(key)] + names, [[n] + [f"{v:.2f}" for v in row]
                                                         for n, row in zip(names, p, strict=True)]))]
    _write_tables(out, keys, summaries, pairs)
    _write_summary(out, src, cells, summaries, pairs, target, metric, x)
    md = out / "report.md"
    md.write_text(render_markdown(blocks))
    (out / "report.html").write_text(render_html(blocks, f"{src.title}: al4ml report"))
    if src.parent:
        for f in sorted(out.iterdir()):
            if f.suffix in (".md", ".html", ".png", ".csv", ".json"):
                client.log_artifact(src.parent, str(f), "report")
    return md


def _write_tables(out: Path, keys: list[str], summaries: list[CellSummary],
                  pairs: list[Comparison]) -> None:
    import csv

    with (out / "aulc.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([_head(k) for k in keys] + ["seeds", "aulc_mean", "aulc_ci95", "final_mean", "final_ci95",
                           "labels_to_target_median", "reached", "ceiling", "setting"])
        for s in summaries:
            w.writerow([s.cell.values[k] for k in keys]
                       + [s.cell.seeds, f"{s.aulc_mean:.6f}", f"{s.aulc_ci:.6f}", f"{s.final_mean:.6f}",
                          f"{s.final_ci:.6f}", s.reach_median, s.reached,
                          "" if s.cell.ceiling is None else f"{s.cell.ceiling:.6f}", s.cell.key])
    with (out / "comparisons.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cell", "against", "axis", "seeds", "diff_mean", "diff_ci95", "p_t", "p_t_holm",
                    "p_wilcoxon", "p_wilcoxon_holm", "verdict", "seeds_needed"])
        for p in pairs:
            m, h = mean_ci(p.diffs)
            w.writerow([p.cell.label, p.against.label, p.axis, p.seeds, f"{float(m):.6f}",
                        f"{float(h):.6f}", p.p_t, p.p_t_holm, p.p_wilcoxon, p.p_wilcoxon_holm,
                        p.verdict, p.seeds_needed])


def _number(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _write_summary(out: Path, src: Source, cells: list[Cell], summaries: list[CellSummary],
                   pairs: list[Comparison], target: float, metric: str, x: str = "labels") -> None:
    """``summary.json``: the report's tables for programs (``al4ml report --json``); with
    ``x: cost`` the ``labels_to_target_*`` fields hold the cost to the target."""
    summary = {
        "title": src.title, "grid_run": src.parent, "version": src.version,
        "config": config_summary(cells), "metric": metric, "target": target, "x": x,
        "cells": [{"values": s.cell.values, "label": s.cell.label, "setting": s.cell.key,
                   "seeds": s.cell.seeds, "aulc": _number(s.aulc_mean), "aulc_ci95": _number(s.aulc_ci),
                   "final": _number(s.final_mean), "final_ci95": _number(s.final_ci),
                   "labels_to_target_median": _number(s.reach_median),
                   "labels_to_target_censored": math.isinf(s.reach_median),
                   "labels_to_target_above": s.reach_above,
                   "seeds_reaching_target": s.reached, "ceiling": s.cell.ceiling,
                   "labels_bought": s.labels_mean}
                  for s in summaries],
        "comparisons": [{"cell": p.cell.label, "against": p.against.label, "axis": p.axis,
                         "seeds": p.seeds, "diff_aulc": _number(float(np.mean(p.diffs))),
                         "p_t": _number(p.p_t), "p_t_holm": _number(p.p_t_holm),
                         "p_wilcoxon_holm": _number(p.p_wilcoxon_holm), "verdict": p.verdict,
                         "seeds_needed": _number(p.seeds_needed),
                         "seeds_needed_over_limit": math.isinf(p.seeds_needed)}
                        for p in pairs],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


class _CallableModule(types.ModuleType):
    """This module, callable as the API's ``al4ml.report(...)``.

    Importing ``al4ml.report`` binds the package attribute ``report`` to this module, shadowing
    the API function of the same name; calling the module calls that function, so
    ``from al4ml import report`` works whichever was imported first.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Path:
        from al4ml import _report

        return _report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
