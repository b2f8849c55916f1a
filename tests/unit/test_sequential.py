"""The group-sequential decision rule alone (no training): its boundaries, its error rate under
the null with the looks of ``al4ml grid --until-resolved``, and what it saves under an effect."""

import math

import numpy as np
import pytest
from scipy import stats

from al4ml.errors import ConfigError
from al4ml.report.design import SequentialPlan, check_same, compare_keys
from al4ml.report.sequential import Design, boundaries, decide
from al4ml.report.stats import paired_power

ALPHA = 0.05
SIMS = 2000
DIGITS_SD = 0.012
"""Spread of paired AULC differences between seeds on the digits grid (docs/grid_digits)."""


def test_boundaries_are_the_published_lan_demets_obrien_fleming_values():
    # Jennison & Turnbull (2000), Table 2.3 / R's ldbounds: four and five equally spaced looks.
    assert boundaries((0.25, 0.5, 0.75, 1.0), 0.05) == pytest.approx(
        (4.3326, 2.9631, 2.3590, 2.0141), abs=2e-4
    )
    assert boundaries((0.2, 0.4, 0.6, 0.8, 1.0), 0.05) == pytest.approx(
        (4.8769, 3.3569, 2.6803, 2.2898, 2.0310), abs=2e-4
    )
    # One look is the fixed design: the two-sided z quantile.
    assert boundaries((1.0,), 0.05)[0] == pytest.approx(stats.norm.isf(0.025), abs=1e-6)


def test_the_looks_and_their_nominal_levels_grow_to_near_alpha():
    d = Design(3, 12)
    assert d.looks == (3, 6, 9, 12)
    assert Design(3, 10).looks == (3, 6, 9, 10)
    levels = d.nominal(1)
    assert all(a < b for a, b in zip(levels, levels[1:], strict=False))
    assert levels[0] < 1e-4 and 0.04 < levels[-1] < ALPHA
    assert all(a > b for a, b in zip(levels, d.nominal(4), strict=True))  # Bonferroni: stricter
    with pytest.raises(ValueError, match="at least 2 pairs"):
        Design(1, 12)


def _share_declared(rule, delta: float, family: int = 1, seed: int = 0) -> tuple[float, float]:
    """Share of simulated grids in which ``rule`` declares any of ``family`` comparisons,
    and the mean seeds a comparison ran, under a planted standardised effect ``delta``."""
    rng = np.random.default_rng(seed)
    declared, seeds = 0, []
    for _ in range(SIMS):
        diffs = rng.normal(delta * DIGITS_SD, DIGITS_SD, (family, 12))
        outcomes = [rule(row, family) for row in diffs]
        declared += any(o[0] for o in outcomes)
        seeds += [o[1] for o in outcomes]
    return declared / SIMS, float(np.mean(seeds))


def _sequential(row, family):
    d = decide(Design(3, 12, ALPHA), row, family)
    return d.state in ("better", "worse"), d.seeds


def _naive(row, family):
    """A t-test at alpha after every batch of three seeds, stopping at the first p < alpha."""
    for n in (3, 6, 9, 12):
        if stats.ttest_1samp(row[:n], 0).pvalue < ALPHA / family:
            return True, n
    return False, 12


def test_under_equal_cells_the_design_keeps_the_family_wise_error_and_the_naive_rule_does_not():
    se = math.sqrt(ALPHA * (1 - ALPHA) / SIMS)
    for family in (1, 3):
        share, _ = _share_declared(_sequential, 0.0, family)
        assert share <= ALPHA + 2 * se, (family, share)
    naive, _ = _share_declared(_naive, 0.0)
    assert naive > ALPHA + 2 * se, naive  # the same simulation can tell a rule that inflates


def test_under_an_effect_the_design_stops_with_fewer_seeds_than_the_fixed_design_of_its_power():
    for delta in (0.8, 1.0, 1.5):
        power, mean_seeds = _share_declared(_sequential, delta, seed=1)
        fixed = next(n for n in range(2, 200) if paired_power(delta, n, ALPHA)[0] >= power)
        assert mean_seeds < fixed, (delta, power, mean_seeds, fixed)


def test_a_look_counts_only_its_own_seeds_and_stops_for_futility_or_at_the_last_look():
    design = Design(3, 12)
    assert decide(design, np.array([0.1, 0.2])).state == "open"  # not even the first look's seeds
    assert decide(design, np.zeros(6)).state == "identical"
    strong = np.array([0.30, 0.31, 0.29, 0.30, 0.32, 0.31, 0.5])
    d = decide(design, strong)
    assert (d.state, d.look, d.seeds) == ("better", 2, 6)  # the 7th seed waits for look 3
    assert d.p <= d.level and d.ci[0] > 0
    flat = np.array([0.01, -0.012, 0.003, -0.004, 0.002, -0.001])
    d = decide(design, flat)
    assert d.state == "futile" and d.ci[0] < 0 < d.ci[1]
    rng = np.random.default_rng(3)
    found = next(
        decide(design, row)
        for row in rng.normal(0.004, 0.01, (200, 12))
        if decide(design, row).state == "max seeds"
    )
    assert found.seeds == 12 and found.look == 4


def test_a_stored_design_is_continued_and_another_refused():
    plan = SequentialPlan(Design(3, 12), compare_keys(["strategy"]))
    assert plan.compare == ("query.strategy",)
    assert SequentialPlan.from_tag(plan.to_tag()) == plan
    check_same(None, plan)
    check_same(SequentialPlan.from_tag(plan.to_tag()), plan)
    with pytest.raises(ConfigError, match="seed batch 3, up to 12 seeds.*--seed-batch"):
        check_same(plan, SequentialPlan(Design(4, 12), plan.compare))
