"""Tables a command prints: a run's rounds, a set of baselines."""

from __future__ import annotations

from rich.table import Table

from al4ml.cli.app import _fmt
from al4ml.runs import COST_METRIC, WRONG_LABELS_METRIC


def _policy_label(policy: dict | None) -> str:
    """``randaugment(m=15, n=2)``: a chosen augmentation, as the rounds table shows it."""
    from al4ml.runs import policy_label

    return policy_label(policy["name"], policy.get("params", {})) if policy else "-"


def baselines_table(results: list) -> Table:
    """One row per baseline run: its name (the settings it differs in), test and val scores."""
    table = Table(title=f"{len(results)} baseline run(s): the full training split")
    for col, justify in (
        ("baseline", "left"),
        ("test acc", "right"),
        ("test AUC", "right"),
        ("val AUC", "right"),
        ("epochs", "right"),
        ("run id", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in results:
        m = r.state.history[-1].metrics if r.state and r.state.history else {}
        epochs = m.get("selected_epoch")
        table.add_row(
            r.name,
            _fmt(m.get("test_accuracy")),
            _fmt(m.get("test_auc")),
            _fmt(m.get("val_auc")),
            "last" if epochs is None else f"{epochs:.0f} (best)",
            r.run_id,
        )
    return table


def rounds_table(history: list) -> Table:
    """A rich table with one row per round; a priced or erring oracle's final bill and wrong
    answers in its caption."""
    table = Table(title="Learning curve (one row per round)")
    searched = any(r.policy for r in history)
    for col in (
        "round",
        "labels",
        "test acc",
        "test AUC",
        "val acc",
        "train loss",
        "train s",
        "query s",
        *(("policy (searched)", "search s") if searched else ()),
    ):
        table.add_column(col, justify="right")
    for r in history:
        m = r.metrics
        table.add_row(
            str(r.round),
            str(r.n_labeled),
            _fmt(m.get("test_accuracy")),
            _fmt(m.get("test_auc")),
            _fmt(m.get("val_accuracy")),
            _fmt(m.get("train_loss")),
            _fmt(m.get("train_seconds"), 2),
            _fmt(m.get("query_seconds"), 2),
            *((_policy_label(r.policy), _fmt(m.get("search_seconds"), 1)) if searched else ()),
        )
    last = history[-1].metrics if history else {}
    notes = ([f"spent cost {last[COST_METRIC]:g}"] if COST_METRIC in last else []) + (
        [f"wrong answers {last[WRONG_LABELS_METRIC]:g} of {history[-1].n_labeled}"]
        if WRONG_LABELS_METRIC in last
        else []
    )
    if notes:
        table.caption = " · ".join(notes)
    return table
