"""``al4ml report``: one folder of figures and tables for a grid or an experiment."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from al4ml.report.baselines import build_baseline_report
from al4ml.report.collect import METRIC, NoCurves, build_cells, chosen_policies, collect, resolve_source
from al4ml.report.datasets import rank_tests, ranks_blocks, ranks_json
from al4ml.report.design import SequentialPlan, decisions, report_blocks, to_json, write_csv
from al4ml.report.plots import plot_curves, plot_policies, plot_win_matrix
from al4ml.report.render import (
    Block,
    _fmt,
    _fmt_in,
    _fmt_labels,
    _fmt_p,
    _fmt_seeds,
    _head,
    _seed_range,
    _write_summary,
    _write_tables,
    config_summary,
    render_html,
    render_markdown,
)
from al4ml.report.stats import (
    ALPHA,
    MIN_SEEDS,
    POWER,
    comparisons,
    mean_ci_scalar,
    resolve_references,
    summarize,
    win_matrix,
)
from al4ml.runs import (
    AUGMENTATION,
    check_x_axis,
)


def build_report(
    client: MlflowClient,
    source: str,
    out: Path,
    target: float = 0.9,
    metric: str = METRIC,
    x: str = "labels",
    references: Mapping[str, str] | None = None,
) -> Path:
    """Write the report for ``source`` (grid run id or experiment name) into ``out``.

    Args:
        client: MLflow client.
        source: A grid's parent run id, or an experiment name.
        out: Folder for the files.
        target: Target value of ``metric``.
        metric: The metric on the curves.
        x: The budget axis: ``labels``, or ``cost`` (the spent cost, for priced oracles).
        references: The value each axis is compared against (``{"augmentation.name":
            "trivialaugment"}``); unnamed axes keep the defaults (``random``, ``none``, first).

    Returns:
        The path of ``report.md``. An experiment that holds full-data baselines and no
        active-learning runs gets the baselines' report (:mod:`al4ml.report.baselines`).
    """
    check_x_axis(x)
    src = resolve_source(client, source)
    try:
        curves, baselines = collect(client, src, metric, x)
    except NoCurves:
        if src.parent:
            raise
        return build_baseline_report(client, src, out)  # an experiment of baselines alone
    cells = build_cells(curves, src.axes, baselines)
    keys = list(cells[0].values)
    heads = [_head(k) for k in keys]
    out.mkdir(parents=True, exist_ok=True)
    summaries = summarize(cells, target)
    bounds = (0.0, 1.0) if "loss" not in metric else (-math.inf, math.inf)  # scores live in [0, 1]
    references = resolve_references(cells, references or {})
    pairs = comparisons(cells, references)
    plan = SequentialPlan.from_tag(src.design) if src.design else None
    decided = decisions(pairs, plan) if plan else []
    plot_curves(cells, out / "learning_curves.png", metric, x)
    seeds = sorted({s for c in cells for s in c.curves}, key=lambda s: (len(s), s))
    what = (
        f"grid parent run {src.parent} (version {src.version})" if src.parent else f"experiment {src.title}"
    )
    blocks: list[Block] = [
        ("h1", f"{src.title}: active-learning report"),
        ("p", config_summary(cells)),
        (
            "p",
            f"{len(curves)} runs of {what}, {len(cells)} cells, seeds "
            f"{', '.join(seeds)}, metric {metric}. Runs are pooled only when their whole "
            "config is equal but for the seed. Means with 95 % t-intervals over seeds "
            f"(bands clipped to [0, 1]). AULC: area under the learning curve with the {x} axis "
            "scaled to [0, 1] (trapezoid rule)."
            + (
                " The x axis is the spent cost (metric oracle_cost); curves whose seeds spent "
                "different amounts are read as step functions on one grid of costs."
                if x == "cost"
                else ""
            ),
        ),
    ]
    few = [c.label for c in cells if c.seeds < MIN_SEEDS]
    if few:
        blocks.append(
            (
                "p",
                f"Note: {len(few)} cell(s) have fewer than {MIN_SEEDS} seeds "
                f"({', '.join(few)}); their intervals are very wide or undefined.",
            )
        )
    blocks += [("h2", "Learning curves"), ("img", "learning_curves.png")]
    searched = {
        c.label: {seed: chosen_policies(client, curve.run_id) for seed, curve in c.curves.items()}
        for c in cells
        if c.values.get(AUGMENTATION, "").startswith("search:")
    }
    if any(any(seeds.values()) for seeds in searched.values()):
        plot_policies(searched, out / "policies.png")
        blocks += [
            ("h2", "Policy chosen per round"),
            (
                "p",
                "Searched cells: the training augmentation each search chose (y) at each "
                "labeled-set size (x), one line per seed; every candidate's fold scores "
                "are in each run's search_trials.csv artifact.",
            ),
            ("img", "policies.png"),
        ]
    blocks += [
        ("h2", f"AULC and {x} to reach {target:.2f}"),
        (
            "p",
            f"{x.capitalize()} to reach {target:.2f}: the median over all seeds; a seed "
            "that never reached it counts as above the budget (shown as > budget). "
            "Validation: the held-out data that chose a cell's epochs or augmentation "
            "policy; counted: a k-fold of the labeled set, paid for from the label "
            "budget; uncounted: the official validation split, labels no budget paid "
            "for (Lüth et al., 2023), so such a cell had more labels than its x axis says.",
        ),
        (
            "table",
            (
                heads
                + [
                    "seeds",
                    "AULC",
                    f"{metric} at the last budget",
                    f"{x} to reach {target:.2f} (median)",
                    "seeds reaching it",
                ]
                + ["labels bought (mean)"] * (x == "cost")
                + ["full training set", "validation"],
                [
                    [s.cell.values[k] for k in keys]
                    + [
                        s.cell.seeds,
                        _fmt_in(s.aulc_mean, s.aulc_ci, *bounds),
                        _fmt_in(s.final_mean, s.final_ci, *bounds),
                        _fmt_labels(s.reach_median, s.reach_above),
                        f"{s.reached}/{s.cell.seeds}",
                    ]
                    + [_fmt(s.labels_mean, digits=1)] * (x == "cost")
                    + [_fmt(s.cell.ceiling), s.cell.validation]
                    for s in summaries
                ],
            ),
        ),
    ]
    (out / "sequential.csv").unlink(missing_ok=True)  # a folder's earlier report of another grid
    if plan:
        blocks += report_blocks(decided, plan)
        write_csv(out / "sequential.csv", decided)
    elif pairs:
        blocks += [
            ("h2", "Paired comparisons (AULC, paired over seeds)"),
            (
                "p",
                "Design: fixed (the seeds run are tested once, as they are; a grid run with "
                "--until-resolved gets sequential comparisons instead). "
                "Each cell against the reference value of one axis ("
                + "".join(f"{_head(k)} {v} as chosen; elsewhere " for k, v in references.items())
                + "strategy random, augmentation none, else the axis' first value), everything "
                "else equal. "
                f"p: paired t-test; Wilcoxon signed-rank with 6 or more seeds; both "
                f"Holm-corrected over the {len(pairs)} comparisons. Verdict: the paired t-test "
                f"at alpha = {ALPHA} after correction; fewer than {MIN_SEEDS} pairs get none; "
                "cells with the same AULC at every seed are identical "
                "(Wilcoxon is shown beside it: with n pairs its p cannot go below 2 / 2^n, "
                "0.031 at 6, so after the correction it rarely could decide). "
                f"Seeds needed: pairs a paired t-test needs to "
                f"resolve the observed Δ with {POWER:.0%} power at the observed spread, at "
                f"alpha = {ALPHA} / {len(pairs)} (two-sided), the level of Holm's strictest "
                "step, so it resolves after the correction whatever its rank.",
            ),
            (
                "table",
                (
                    [
                        "cell",
                        "against",
                        "axis",
                        "seeds",
                        "Δ AULC (95 % CI)",
                        "p (t)",
                        "p (t, Holm)",
                        "p (Wilcoxon, Holm)",
                        "verdict",
                        "seeds needed",
                    ],
                    [
                        [
                            p.cell.label,
                            p.against.label,
                            _head(p.axis),
                            p.seeds,
                            _fmt_in(*mean_ci_scalar(p.diffs), -bounds[1], bounds[1]),
                            _fmt_p(p.p_t),
                            _fmt_p(p.p_t_holm),
                            _fmt_p(p.p_wilcoxon_holm),
                            p.verdict,
                            _fmt_seeds(p.seeds_needed),
                        ]
                        for p in pairs
                    ],
                ),
            ),
        ]
        unresolved = [p for p in pairs if p.verdict in ("not resolved", "too few seeds")]
        if unresolved:
            need = [p.seeds_needed for p in unresolved if not math.isnan(p.seeds_needed)]
            blocks.append(
                (
                    "p",
                    f"{len(unresolved)} of {len(pairs)} comparisons are not resolved "
                    "with the seeds run so far"
                    + (
                        f"; resolving them would take {_seed_range(need)} seeds in "
                        "all at the observed spreads."
                        if need
                        else "."
                    ),
                )
            )
    for key in keys:
        names, p = win_matrix(cells, key)
        if len(names) > 1:
            png = f"win_matrix_{_head(key)}.png"
            settings = "the other axes" if len(keys) > 1 else "one setting"
            plot_win_matrix(names, p, out / png, f"{_head(key)}: row beats column")
            blocks += [
                ("h2", f"Pairwise win matrix: {_head(key)}"),
                (
                    "p",
                    f"Entry (i, j): summed over settings of {settings}, the fraction of "
                    f"{'label budgets' if x == 'labels' else 'costs'} at which i beats "
                    "j (paired two-sided t-test over seeds, 95 %).",
                ),
                ("img", png),
                (
                    "table",
                    (
                        [_head(key)] + names,
                        [[n] + [f"{v:.2f}" for v in row] for n, row in zip(names, p, strict=True)],
                    ),
                ),
            ]
    _write_tables(out, keys, summaries, pairs)
    ranked = rank_tests(cells)
    blocks += ranks_blocks(ranked, out)
    extra: dict[str, Any] = {"sequential": to_json(decided, plan)} if plan else {}
    if ranked:
        extra["across_datasets"] = ranks_json(ranked)
    _write_summary(out, src, cells, summaries, pairs, target, metric, x, extra)
    md = out / "report.md"
    md.write_text(render_markdown(blocks))
    (out / "report.html").write_text(render_html(blocks, f"{src.title}: al4ml report"))
    if src.parent:
        for f in sorted(out.iterdir()):
            if f.suffix in (".md", ".html", ".png", ".csv", ".json"):
                client.log_artifact(src.parent, str(f), "report")
    return md
