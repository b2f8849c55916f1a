"""A report's text: number formats, Markdown, HTML, CSV and JSON tables."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from al4ml.report.collect import ReportCell, Source
from al4ml.report.stats import MAX_SEEDS, CellSummary, Comparison, mean_ci
from al4ml.runs import (
    AUGMENTATION,
    STRATEGY,
    short,
)


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
            trs = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:"
        "collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


def config_summary(cells: list[ReportCell]) -> str:
    """The config the cells share, in one line (what varies is in the cell labels)."""
    shared = {k: v for k, v in cells[0].setting.items() if all(c.setting.get(k) == v for c in cells)}

    def get(key: str) -> str | None:
        return shared.get(key)

    parts = []
    dataset = get("dataset.name")
    if dataset:
        parts.append(get("dataset.options.flag") or dataset)
    if model := get("model.name"):
        opts = [f"{short(k)} {v}" for k, v in shared.items() if k.startswith("model.options.")]
        parts.append(model + (f" ({', '.join(opts)})" if opts else ""))
    train = [
        f"{get('training.epochs')} epochs" if get("training.epochs") else None,
        f"≥ {get('training.min_steps')} steps" if get("training.min_steps") not in (None, "0") else None,
        f"batch {get('training.batch_size')}" if get("training.batch_size") else None,
        f"lr {get('training.lr')}" if get("training.lr") else None,
    ]
    if any(train):
        parts.append(", ".join(t for t in train if t))
    if get("budget.initial") and get("budget.total"):
        step = f" (+{get('budget.per_round')} a round)" if get("budget.per_round") else ""
        if get("budget.unit") == "cost":
            parts.append(
                f"labels from {get('budget.initial')}{step} until a cost of {get('budget.total')} is spent"
            )
        else:
            parts.append(f"labels {get('budget.initial')} → {get('budget.total')}{step}")
    prices = get("oracle.cost.per_class")
    if prices and prices != "None":
        parts.append(f"price per answered class {prices}")
    elif get("oracle.cost.per_label") not in (None, "1.0"):
        parts.append(f"price per label {get('oracle.cost.per_label')}")
    return " · ".join(parts)


def _write_tables(out: Path, keys: list[str], summaries: list[CellSummary], pairs: list[Comparison]) -> None:
    import csv

    with (out / "aulc.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [_head(k) for k in keys]
            + [
                "seeds",
                "aulc_mean",
                "aulc_ci95",
                "final_mean",
                "final_ci95",
                "labels_to_target_median",
                "reached",
                "ceiling",
                "validation",
                "setting",
            ]
        )
        for s in summaries:
            w.writerow(
                [s.cell.values[k] for k in keys]
                + [
                    s.cell.seeds,
                    f"{s.aulc_mean:.6f}",
                    f"{s.aulc_ci:.6f}",
                    f"{s.final_mean:.6f}",
                    f"{s.final_ci:.6f}",
                    s.reach_median,
                    s.reached,
                    "" if s.cell.ceiling is None else f"{s.cell.ceiling:.6f}",
                    s.cell.validation,
                    s.cell.key,
                ]
            )
    with (out / "comparisons.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "cell",
                "against",
                "axis",
                "seeds",
                "diff_mean",
                "diff_ci95",
                "p_t",
                "p_t_holm",
                "p_wilcoxon",
                "p_wilcoxon_holm",
                "verdict",
                "seeds_needed",
            ]
        )
        for p in pairs:
            m, h = mean_ci(p.diffs)
            w.writerow(
                [
                    p.cell.label,
                    p.against.label,
                    p.axis,
                    p.seeds,
                    f"{float(m):.6f}",
                    f"{float(h):.6f}",
                    p.p_t,
                    p.p_t_holm,
                    p.p_wilcoxon,
                    p.p_wilcoxon_holm,
                    p.verdict,
                    p.seeds_needed,
                ]
            )


def _number(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _write_summary(
    out: Path,
    src: Source,
    cells: list[ReportCell],
    summaries: list[CellSummary],
    pairs: list[Comparison],
    target: float,
    metric: str,
    x: str = "labels",
    extra: dict[str, Any] | None = None,
) -> None:
    """``summary.json``: the report's tables for programs (``al4ml report --json``); with
    ``x: cost`` the ``labels_to_target_*`` fields hold the cost to the target; ``extra``
    sections (a sequential design, tests across datasets) are added as given."""
    summary = {
        "title": src.title,
        "grid_run": src.parent,
        "version": src.version,
        "config": config_summary(cells),
        "metric": metric,
        "target": target,
        "x": x,
        "cells": [
            {
                "values": s.cell.values,
                "label": s.cell.label,
                "setting": s.cell.key,
                "seeds": s.cell.seeds,
                "aulc": _number(s.aulc_mean),
                "aulc_ci95": _number(s.aulc_ci),
                "final": _number(s.final_mean),
                "final_ci95": _number(s.final_ci),
                "labels_to_target_median": _number(s.reach_median),
                "labels_to_target_censored": math.isinf(s.reach_median),
                "labels_to_target_above": s.reach_above,
                "seeds_reaching_target": s.reached,
                "ceiling": s.cell.ceiling,
                "validation": s.cell.validation,
                "labels_bought": s.labels_mean,
            }
            for s in summaries
        ],
        "comparisons": [
            {
                "cell": p.cell.label,
                "against": p.against.label,
                "axis": p.axis,
                "seeds": p.seeds,
                "diff_aulc": _number(float(np.mean(p.diffs))),
                "p_t": _number(p.p_t),
                "p_t_holm": _number(p.p_t_holm),
                "p_wilcoxon_holm": _number(p.p_wilcoxon_holm),
                "verdict": p.verdict,
                "seeds_needed": _number(p.seeds_needed),
                "seeds_needed_over_limit": math.isinf(p.seeds_needed),
            }
            for p in pairs
        ],
        **(extra or {}),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
