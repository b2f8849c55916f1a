"""What a cell may still spend: the labels, or under a cost budget the money, left to it."""

from __future__ import annotations

from al4ml.config import ExperimentConfig
from al4ml.config.sections import BudgetConfig
from al4ml.oracle import SimulatedOracle


def affordable(budget: BudgetConfig, oracle: SimulatedOracle, n_labeled: int) -> int:
    """Labels a cell may still buy: the rest of the pool, capped by ``budget.total`` labels,
    or under a cost budget by what the rest of the money surely pays (at the dearest price)."""
    left = oracle.pool_size - n_labeled
    if budget.unit == "labels":
        return min(left, budget.total - n_labeled)
    return min(left, int((budget.total - oracle.spent) // oracle.cost.dearest + 1e-9))


def priced(cfg: ExperimentConfig) -> bool:
    """Whether a label's price differs from one unit, or the budget counts cost."""
    return cfg.budget.unit == "cost" or not cfg.oracle.cost.default
