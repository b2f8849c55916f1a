"""A report's statistics: AULC, labels to a target, paired tests, seeds needed, win matrices."""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from al4ml.errors import ConfigError
from al4ml.report.collect import ReportCell
from al4ml.runs import (
    AUGMENTATION,
    STRATEGY,
)

ALPHA = 0.05
POWER = 0.8
MIN_SEEDS = 3
MAX_SEEDS = 10_000
REFERENCES = {STRATEGY: "random", AUGMENTATION: "none"}


def mean_ci(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of the 95 % t-interval along ``axis`` (NaN half-width for n = 1)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    half = stats.t.ppf(0.975, n - 1) * x.std(axis=axis, ddof=1) / math.sqrt(n)
    return mean, half


def mean_ci_scalar(x: np.ndarray) -> tuple[float, float]:
    """:func:`mean_ci` of a 1-D sample, as two floats."""
    mean, half = mean_ci(x)
    return float(mean), float(half)


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


def aligned(cell: ReportCell, seeds: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Steps common to the given seeds' curves and a ``[seeds, steps]`` value matrix."""
    seeds = seeds or sorted(cell.curves)
    common = sorted(set.intersection(*(set(cell.curves[s].steps.tolist()) for s in seeds)))
    vals = np.stack(
        [
            [
                dict(zip(cell.curves[s].steps.tolist(), cell.curves[s].values.tolist(), strict=True))[x]
                for x in common
            ]
            for s in seeds
        ]
    )
    return np.array(common, dtype=float), vals


@dataclass
class CellSummary:
    """A cell's AULC, final value and labels to the target."""

    cell: ReportCell
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


def summarize(cells: list[ReportCell], target: float) -> list[CellSummary]:
    """One :class:`CellSummary` per cell."""
    out = []
    for cell in cells:
        steps, vals = aligned(cell)
        a_mean, a_ci = mean_ci(np.array([aulc(steps, v) for v in vals]))
        f_mean, f_ci = mean_ci(vals[:, -1])
        reach = np.array([labels_to_reach(steps, v, target) for v in vals])
        bought = [c.labels for c in cell.curves.values() if c.labels is not None]
        median, above = censored_median(reach, float(steps[-1]))
        out.append(
            CellSummary(
                cell,
                float(steps[-1]),
                float(a_mean),
                float(a_ci),
                float(f_mean),
                float(f_ci),
                median,
                int(np.isfinite(reach).sum()),
                float(np.mean(bought)) if bought else None,
                above,
            )
        )
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
    for lo, hi in ((2, 64), (65, 1024), (1025, MAX_SEEDS)):  # power grows with n: stop at the first
        n = np.arange(lo, hi + 1)
        ok = np.flatnonzero(paired_power(mean / sd, n, alpha) >= power)
        if len(ok):
            return float(n[ok[0]])
    return math.inf


@dataclass
class Comparison:
    """A paired comparison of AULC over the seeds two cells share."""

    cell: ReportCell
    against: ReportCell
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
        t-test has one degree of freedom, and a tiny spread would decide); ``identical`` when
        every pair's AULC is the same (the two cells ran the same training: nothing to resolve)."""
        if self.seeds < MIN_SEEDS:
            return "too few seeds"
        if not np.any(self.diffs):
            return "identical"
        if not self.p_t_holm < ALPHA:
            return "not resolved"
        return "better" if np.mean(self.diffs) > 0 else "worse"

    @property
    def seeds_needed(self) -> float:
        """For an unresolved comparison: pairs a t-test needs for 80 % power at the level of
        Holm's strictest step (alpha / number of comparisons), so that the difference resolves
        after the correction whatever its rank (at least :data:`MIN_SEEDS`); else NaN."""
        if self.verdict in ("better", "worse", "identical"):
            return math.nan
        need = seeds_needed(self.diffs, alpha=ALPHA / self.family)
        return need if math.isnan(need) else max(float(MIN_SEEDS), need)


def _paired_tests(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided p of the paired t-test and (n >= 6) of Wilcoxon's signed-rank test."""
    if len(a) < 2:
        return math.nan, math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        p_t = float(stats.ttest_rel(a, b).pvalue)
        p_w = float(stats.wilcoxon(a, b).pvalue) if len(a) >= 6 and np.any(a != b) else math.nan
    return (1.0 if math.isnan(p_t) else p_t), p_w


def _reference(key: str, values: list[str], chosen: Mapping[str, str]) -> str:
    ref = chosen.get(key, REFERENCES.get(key))
    return ref if ref in values else values[0]


def resolve_references(cells: list[ReportCell], references: Mapping[str, str]) -> dict[str, str]:
    """Chosen references by axis key: each names a labelled axis (its key, or the short name
    a report's table heads it with: ``augmentation``, ``strategy``) and one of its values.

    Raises:
        ConfigError: one line naming the bad axis or value and the valid ones.
    """
    keys = list(cells[0].values) if cells else []
    heads = {"strategy": STRATEGY, "augmentation": AUGMENTATION}
    out = {}
    for name, value in references.items():
        key = name if name in keys else heads.get(name)
        if key not in keys:
            raise ConfigError(
                f"--reference {name}={value}: {name!r} is no axis of this report; "
                f"choose from: {', '.join(keys)}"
            )
        values = list(dict.fromkeys(c.values[key] for c in cells))
        if value not in values:
            raise ConfigError(
                f"--reference {name}={value}: no cell has {key} = {value!r}; choose from: {', '.join(values)}"
            )
        out[key] = value
    return out


def comparisons(cells: list[ReportCell], references: Mapping[str, str] | None = None) -> list[Comparison]:
    """Every cell against the reference value of each labelled axis, the rest equal.

    The reference is the value ``references`` names for an axis, else ``random`` for
    strategies, ``none`` for augmentations and the first value (grid order) elsewhere;
    p-values are Holm-corrected over the whole list.
    """
    by_values = {tuple(c.values.items()): c for c in cells}
    keys = list(cells[0].values) if cells else []
    out = []
    for key in keys:
        values = list(dict.fromkeys(c.values[key] for c in cells))
        if len(values) < 2:
            continue
        ref = _reference(key, values, references or {})
        for cell in cells:
            if cell.values[key] == ref:
                continue
            base = by_values.get(tuple({**cell.values, key: ref}.items()))
            if base is None:
                continue
            seeds = sorted(set(cell.curves) & set(base.curves))
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


def win_matrix(cells: list[ReportCell], key: str) -> tuple[list[str], np.ndarray]:
    """Ash et al.'s pairwise win matrix of the values of ``key`` (settings: the other keys).

    Returns:
        Names and ``P [n, n]``: ``P[i, j]`` sums over settings of the fraction of label counts
        at which i beats j in a paired two-sided t-test at 95 % over seeds.
    """
    names = list(dict.fromkeys(c.values[key] for c in cells))
    rest: dict[tuple, dict[str, ReportCell]] = defaultdict(dict)
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
