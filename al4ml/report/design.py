"""A sequential grid's design as stored on its parent run, and its decisions from the store.

``al4ml grid --until-resolved`` and ``al4ml report`` both read the comparisons through this
module, so the grid stops on exactly the verdicts the report prints.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from al4ml.errors import ConfigError
from al4ml.report.sequential import Decision, Design, decide
from al4ml.report.stats import Comparison, aulc
from al4ml.runs import AUGMENTATION, DESIGN_TAG, STRATEGY

if TYPE_CHECKING:
    from al4ml.report.render import Block

HEADS = {"strategy": STRATEGY, "augmentation": AUGMENTATION}
"""Short names ``--compare`` takes for the two main axes."""


@dataclass(frozen=True)
class SequentialPlan:
    """What a sequential grid runs: its design and the axes whose comparisons count."""

    design: Design
    compare: tuple[str, ...] = field(default_factory=tuple)
    """Axis keys whose comparisons decide (empty: every planned comparison)."""

    def to_tag(self) -> str:
        """The parent run's :data:`~al4ml.runs.DESIGN_TAG` value."""
        return json.dumps(
            {**asdict(self.design), "spending": "obrien-fleming", "compare": list(self.compare)},
            sort_keys=True,
        )

    @classmethod
    def from_tag(cls, value: str) -> SequentialPlan:
        """Read a parent run's design tag."""
        d = json.loads(value)
        return cls(
            Design(int(d["batch"]), int(d["max_seeds"]), float(d["alpha"]), float(d["futility"])),
            tuple(d.get("compare", ())),
        )

    def describe(self) -> str:
        """``seed batch 3, up to 12 seeds, alpha 0.05, comparisons along strategy``."""
        along = f", comparisons along {', '.join(self.compare)}" if self.compare else ""
        return (
            f"seed batch {self.design.batch}, up to {self.design.max_seeds} seeds, alpha "
            f"{self.design.alpha:g}, futility below {self.design.futility:.0%} conditional "
            f"power{along}"
        )


def compare_keys(names: list[str] | None) -> tuple[str, ...]:
    """``--compare`` values as axis keys (``strategy`` -> ``query.strategy``)."""
    return tuple(HEADS.get(n, n) for n in names or [])


def design_of(parent_tags: dict[str, str]) -> SequentialPlan | None:
    """The sequential plan a grid's parent run carries, if it ran ``--until-resolved``."""
    value = parent_tags.get(DESIGN_TAG)
    return SequentialPlan.from_tag(value) if value else None


def check_same(stored: SequentialPlan | None, plan: SequentialPlan) -> None:
    """A re-run continues the design it started with; another would void its error rates.

    Raises:
        ConfigError: the stored design differs, as one line naming both.
    """
    if stored is not None and stored != plan:
        raise ConfigError(
            f"this grid runs a sequential design ({stored.describe()}); it cannot "
            f"continue as {plan.describe()}: re-run with the same --seed-batch, "
            "--max-seeds and --compare, or give the grid another name"
        )


def seed_ordered_diffs(c: Comparison) -> np.ndarray:
    """AULC differences (cell - against) at seeds 0, 1, 2, ... while both cells have the seed:
    a look counts the seeds planned for it, in order, never a later seed in a gap's place."""
    out = []
    i = 0
    while str(i) in c.cell.curves and str(i) in c.against.curves:
        a, b = c.cell.curves[str(i)], c.against.curves[str(i)]
        out.append(aulc(a.steps, a.values) - aulc(b.steps, b.values))
        i += 1
    return np.array(out, dtype=float)


def counted(pairs: list[Comparison], plan: SequentialPlan) -> list[Comparison]:
    """The comparisons the design decides (all, or those along ``plan.compare``).

    Raises:
        ConfigError: ``compare`` names no axis of the grid's comparisons, as one line.
    """
    if not plan.compare:
        return pairs
    axes = sorted({p.axis for p in pairs})
    bad = [k for k in plan.compare if k not in axes]
    if bad:
        raise ConfigError(
            f"--compare {bad[0]}: no comparison runs along it; choose from: "
            f"{', '.join(axes) or '(none: the grid varies no axis but the seed)'}"
        )
    return [p for p in pairs if p.axis in plan.compare]


def decisions(pairs: list[Comparison], plan: SequentialPlan) -> list[tuple[Comparison, Decision]]:
    """Each counted comparison with its decision, Bonferroni over the counted family."""
    chosen = counted(pairs, plan)
    return [(p, decide(plan.design, seed_ordered_diffs(p), family=len(chosen))) for p in chosen]


def open_settings(decided: list[tuple[Comparison, Decision]]) -> set[str]:
    """Setting hashes of the cells an open comparison still needs seeds of (both sides)."""
    return {k for c, d in decided if not d.stopped for k in (c.cell.key, c.against.key)}


def summary(decided: list[tuple[Comparison, Decision]]) -> dict[str, Any]:
    """Counts by state, for progress lines and JSON."""
    return dict(Counter(d.state for _, d in decided))


def verdict(d: Decision) -> str:
    """The decision in words, with the look it was made at."""
    return {
        "better": f"better (look {d.look}, {d.seeds} seeds)",
        "worse": f"worse (look {d.look}, {d.seeds} seeds)",
        "identical": "identical",
        "futile": f"not resolved: stopped for futility at look {d.look} ({d.seeds} seeds)",
        "max seeds": f"not resolved at the last look ({d.seeds} seeds)",
        "open": f"open after look {d.look} ({d.seeds} seeds): needs the next",
    }[d.state]


def report_blocks(decided: list[tuple[Comparison, Decision]], plan: SequentialPlan) -> list[Block]:
    """The report's section for a sequential grid, in place of fixed-sample verdicts."""
    from al4ml.report.render import _head

    family = len(decided)
    rows = []
    for c, d in decided:
        diffs = seed_ordered_diffs(c)[: d.seeds]
        mean = float(np.mean(diffs)) if len(diffs) else math.nan
        rows.append(
            [
                c.cell.label,
                c.against.label,
                _head(c.axis),
                d.look,
                d.seeds,
                f"{mean:+.3f} [{d.ci[0]:+.3f}, {d.ci[1]:+.3f}]" if len(diffs) > 1 else "-",
                f"{d.p:.2g}",
                f"{d.level:.2g}",
                verdict(d),
            ]
        )  # p beside its level, both in full
    return [
        ("h2", "Sequential comparisons (AULC, paired over seeds)"),
        (
            "p",
            f"This grid ran with --until-resolved ({plan.describe()}). Design: "
            f"{plan.design.describe(family)}. A comparison is decided at the first look whose "
            "paired t-test p-value is at most that look's nominal level (the look's boundary "
            "of the O'Brien-Fleming alpha spending, at alpha / the number of comparisons); a "
            "look counts seeds 0 to n - 1 only. The verdicts keep the family-wise error at "
            "alpha over all looks and comparisons, so they are not the fixed-sample t-tests a "
            "grid with a fixed number of seeds gets. Interval: the repeated confidence interval "
            "at the last look made (the look's nominal level as its error), which excludes 0 "
            "exactly when that look decides.",
        ),
        (
            "table",
            (
                [
                    "cell",
                    "against",
                    "axis",
                    "looks",
                    "seeds",
                    "Δ AULC [repeated CI]",
                    "p (t, last look)",
                    "nominal level",
                    "verdict",
                ],
                rows,
            ),
        ),
    ]


def write_csv(path: Path, decided: list[tuple[Comparison, Decision]]) -> None:
    """``sequential.csv``: each counted comparison's decision."""
    import csv

    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "cell",
                "against",
                "axis",
                "state",
                "looks",
                "seeds",
                "p_t",
                "nominal_level",
                "ci_low",
                "ci_high",
            ]
        )
        for c, d in decided:
            w.writerow(
                [
                    c.cell.label,
                    c.against.label,
                    c.axis,
                    d.state,
                    d.look,
                    d.seeds,
                    d.p,
                    d.level,
                    d.ci[0],
                    d.ci[1],
                ]
            )


def to_json(decided: list[tuple[Comparison, Decision]], plan: SequentialPlan) -> dict[str, Any]:
    """The design and its decisions for ``summary.json``."""
    return {
        "design": json.loads(plan.to_tag()),
        "looks": list(plan.design.looks),
        "nominal_levels": list(plan.design.nominal(max(1, len(decided)))),
        "comparisons": [decision_json(c, d) for c, d in decided],
    }


def decision_json(c: Comparison, d: Decision) -> dict[str, Any]:
    """One comparison's decision as JSON (``summary.json``, ``al4ml grid --json``); a test not
    made yet (no p-value, no level) is ``null``."""
    return {
        "cell": c.cell.label,
        "against": c.against.label,
        "axis": c.axis,
        "state": d.state,
        "looks": d.look,
        "seeds": d.seeds,
        "p_t": None if math.isnan(d.p) else d.p,
        "nominal_level": None if math.isnan(d.level) else d.level,
    }
