"""Group-sequential comparisons: decide after each batch of seeds without inflating errors.

Re-testing a comparison after every batch of seeds at a fixed alpha (the "naive rule") rejects
a true null far more often than alpha. A group-sequential design fixes the looks in advance
(seeds ``batch, 2 * batch, ..., max_seeds``) and spends alpha over them (Lan and DeMets, 1983,
with O'Brien and Fleming's spending function, two-sided): at look ``j`` a comparison is
resolved when its paired t-test's two-sided p-value is at most the look's *nominal level*,
which is small early (an extreme effect stops at once) and near alpha at the last look.

- Boundaries are computed for the z-statistics of Brownian motion in information time
  ``t_j = n_j / max_seeds`` by recursive numerical integration (Armitage, McPherson and Rowe,
  1969), deterministically; each look's t-test p-value is compared with the nominal level of
  its z boundary (the p-value of a look is exactly uniform under the null whatever its degrees
  of freedom; ``tests/test_sequential.py`` simulates the family-wise error).
- The family: Bonferroni, ``alpha / m`` spent per comparison over the same looks, so the
  chance that any of ``m`` comparisons is declared wrongly stays at most alpha.
- Futility (non-binding, so it only lowers the error): a comparison stops, unresolved, when
  its conditional power under the current trend (the observed effect continuing to
  ``max_seeds``) to cross the last boundary is below ``futility``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import optimize, stats

GRID_POINTS = 801
"""Points of the integration grid over the continuation region (error well below 1e-6)."""


def obf_spent(t: float, alpha: float) -> float:
    """Alpha spent by information fraction ``t``: Lan-DeMets O'Brien-Fleming, two-sided
    (``alpha / 2`` per side: ``4 - 4 Phi(z_{alpha/4} / sqrt(t))``)."""
    if t <= 0:
        return 0.0
    return float(min(alpha, 4 * stats.norm.sf(stats.norm.isf(alpha / 4) / math.sqrt(t))))


def _exit_excess(
    c: float, target: float, t: float, step: float, s: np.ndarray | None, dens: np.ndarray | None
) -> float:
    """P(a path still running crosses +-c at information ``t``) minus ``target``; ``s`` and
    ``dens`` are the grid and sub-density of the running paths at the previous look."""
    if s is None or dens is None:
        return 2 * float(stats.norm.sf(c)) - target
    b, sd = c * math.sqrt(t), math.sqrt(step)
    inner = stats.norm.sf((b - s) / sd) + stats.norm.cdf((-b - s) / sd)
    return float(np.trapezoid(dens * inner, s)) - target


@cache
def boundaries(fractions: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    """Two-sided z boundaries ``c_j`` at information ``fractions`` (increasing, last 1.0):
    under the null, P(first |Z_j| >= c_j at look j) is the alpha spent between looks."""
    s: np.ndarray | None = None  # grid over the continuation region of S = Z sqrt(t)
    dens: np.ndarray | None = None  # sub-density of S on it (paths still running)
    out: list[float] = []
    prev = 0.0
    for t in fractions:
        target, step = obf_spent(t, alpha) - obf_spent(prev, alpha), t - prev
        c = (
            40.0
            if target <= 1e-15
            else float(optimize.brentq(_exit_excess, 1e-6, 40.0, args=(target, t, step, s, dens), xtol=1e-10))
        )
        out.append(c)
        b = c * math.sqrt(t)
        new = np.linspace(-b, b, GRID_POINTS)
        if s is None or dens is None:
            dens = stats.norm.pdf(new, scale=math.sqrt(t))
        else:
            kernel = stats.norm.pdf((new[:, None] - s[None, :]) / math.sqrt(step)) / math.sqrt(step)
            dens = np.trapezoid(kernel * dens[None, :], s, axis=1)
        s, prev = new, t
    return tuple(out)


@dataclass(frozen=True)
class Design:
    """Looks at ``batch, 2 * batch, ...`` seeds up to ``max_seeds``, family level ``alpha``."""

    batch: int
    max_seeds: int
    alpha: float = 0.05
    futility: float = 0.1

    def __post_init__(self) -> None:
        if self.batch < 2:
            raise ValueError(f"a seed batch of {self.batch}: a paired t-test needs at least 2 pairs")
        if self.max_seeds < self.batch:
            raise ValueError(f"max seeds {self.max_seeds} is below one batch ({self.batch})")

    @property
    def looks(self) -> tuple[int, ...]:
        """Seeds at each look (the last is ``max_seeds``)."""
        n = list(range(self.batch, self.max_seeds, self.batch))
        return (*n, self.max_seeds)

    def bounds(self, family: int) -> tuple[float, ...]:
        """Each look's z boundary for one comparison of a family of ``family``."""
        return boundaries(tuple(n / self.max_seeds for n in self.looks), self.alpha / family)

    def nominal(self, family: int) -> tuple[float, ...]:
        """Each look's nominal two-sided level: a look's p-value at most this resolves."""
        return tuple(2 * float(stats.norm.sf(c)) for c in self.bounds(family))

    def describe(self, family: int) -> str:
        """One line: looks, seeds at each and the nominal levels."""
        levels = ", ".join(f"{n}: {p:.2g}" for n, p in zip(self.looks, self.nominal(family), strict=True))
        return (
            f"group-sequential, looks at {', '.join(map(str, self.looks))} seeds; "
            f"O'Brien-Fleming spending of alpha = {self.alpha:g} / {family} per comparison "
            f"(Bonferroni); nominal p at each look: {levels}; futility below "
            f"{self.futility:.0%} conditional power"
        )


@dataclass(frozen=True)
class Decision:
    """Where a comparison stands after the looks its seeds allow."""

    state: str
    """``better``, ``worse``, ``identical``, ``futile`` (stopped unresolved), ``max seeds``
    (the last look did not resolve it) or ``open`` (needs the next look)."""
    look: int
    """Looks made (0: not even the first's seeds yet)."""
    seeds: int
    """Seeds at the last look made."""
    p: float = math.nan
    """The last look's paired t-test p-value."""
    level: float = math.nan
    """The last look's nominal level."""
    ci: tuple[float, float] = (math.nan, math.nan)
    """Repeated confidence interval of the mean difference at the last look (the look's
    boundary as its critical value: it excludes 0 exactly when the look resolves)."""

    @property
    def stopped(self) -> bool:
        """Whether the comparison needs no more seeds."""
        return self.state != "open"


def _t_p(d: np.ndarray) -> float:
    sd = float(np.std(d, ddof=1))
    if sd == 0:
        return 0.0 if np.mean(d) != 0 else 1.0
    t = float(np.mean(d)) / (sd / math.sqrt(len(d)))
    return float(2 * stats.t.sf(abs(t), len(d) - 1))


def decide(design: Design, diffs: np.ndarray, family: int = 1) -> Decision:
    """Walk the looks that ``diffs`` (paired AULC differences in seed order) cover.

    Only the first ``n_j`` differences count at look ``j``; seeds past the last covered look
    are not looked at (they wait for theirs).
    """
    d = np.asarray(diffs, dtype=float)
    levels = design.nominal(family)
    bounds = design.bounds(family)
    looks = [n for n in design.looks if n <= len(d)]
    if not looks:
        return Decision("open", 0, 0)
    if not np.any(d[: looks[-1]]):
        return Decision("identical", len(looks), looks[-1], 1.0)
    final = bounds[-1]
    for j, n in enumerate(looks):
        x = d[:n]
        p = _t_p(x)
        mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
        crit = float(stats.t.isf(levels[j] / 2, n - 1))
        ci = (mean - crit * sd / math.sqrt(n), mean + crit * sd / math.sqrt(n))
        if p <= levels[j]:
            return Decision("better" if mean > 0 else "worse", j + 1, n, p, levels[j], ci)
        if n == design.max_seeds:
            return Decision("max seeds", j + 1, n, p, levels[j], ci)
        t = n / design.max_seeds
        z = float(stats.norm.isf(p / 2))
        cp = stats.norm.sf((final - z / math.sqrt(t)) / math.sqrt(1 - t))  # B(1) | B(t), drift z/sqrt(t)
        if cp < design.futility:
            return Decision("futile", j + 1, n, p, levels[j], ci)
    j = len(looks) - 1
    return Decision("open", j + 1, looks[-1], p, levels[j], ci)
