"""Across datasets: a Friedman test per question, a Nemenyi post hoc and a critical-difference
diagram (Demšar, 2006), as the augmentation study's 12-dataset table needs.

A *question* is an axis with three or more values (augmentation, strategy, ...). Its blocks
are the datasets (times every combination of the remaining axes), each block's entries the
mean AULC over seeds of each value; values are ranked within each block (1 = highest AULC).
SciPy's ``friedmanchisquare`` tests whether the mean ranks differ; scikit-posthocs gives the
Nemenyi post hoc (its own correction for all pairs) and draws the diagram, in which values
joined by a bar do not differ at 0.05.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from al4ml.report.collect import ReportCell
from al4ml.report.stats import aulc

if TYPE_CHECKING:
    from al4ml.report.render import Block

DATASET_KEYS = ("dataset.options.flag", "dataset.name", "dataset.root")
"""Keys that name a dataset, first match wins (a MedMNIST flag before the loader's name)."""


@dataclass
class RankTest:
    """One question across datasets: mean AULC per block and value, ranks and the tests."""

    axis: str
    names: list[str]
    """The axis' values (the treatments), in grid order."""
    blocks: list[str]
    """Each block's dataset (and the other axes' values)."""
    table: np.ndarray
    """Mean AULC ``[blocks, values]``."""
    ranks: np.ndarray
    """Mean rank of each value over the blocks (1 = best)."""
    statistic: float
    p: float
    """Friedman's chi-square and its p-value."""
    posthoc: np.ndarray
    """Nemenyi p-values ``[values, values]``."""


def dataset_key(keys: list[str]) -> str | None:
    """The labelled key that names the dataset, if the cells vary in it."""
    return next((k for k in DATASET_KEYS if k in keys), None)


def rank_tests(cells: list[ReportCell]) -> list[RankTest]:
    """A Friedman test for every axis with three or more values, over datasets as blocks;
    none when the cells do not span at least two datasets."""
    keys = list(cells[0].values) if cells else []
    dkey = dataset_key(keys)
    if dkey is None or len({c.values[dkey] for c in cells}) < 2:
        return []
    out = []
    for axis in keys:
        names = list(dict.fromkeys(c.values[axis] for c in cells))
        if axis == dkey or len(names) < 3:
            continue
        others = [k for k in keys if k != axis]
        by_block: dict[tuple[str, ...], dict[str, float]] = {}
        for c in cells:
            mean = float(np.mean([aulc(curve.steps, curve.values) for curve in c.curves.values()]))
            by_block.setdefault(tuple(c.values[k] for k in others), {})[c.values[axis]] = mean
        complete = {b: row for b, row in by_block.items() if len(row) == len(names)}
        if len(complete) < 2:
            continue
        table = np.array([[row[n] for n in names] for row in complete.values()])
        statistic, p = stats.friedmanchisquare(*table.T)
        out.append(
            RankTest(
                axis,
                names,
                [" ".join(b) for b in complete],
                table,
                stats.rankdata(-table, axis=1).mean(axis=0),
                float(statistic),
                float(p),
                _nemenyi(table),
            )
        )
    return out


def _nemenyi(table: np.ndarray) -> np.ndarray:
    import scikit_posthocs as sp

    return np.asarray(sp.posthoc_nemenyi_friedman(table), dtype=float)


def plot_critical_difference(test: RankTest, path: Path) -> None:
    """scikit-posthocs' critical-difference diagram of ``test``'s mean ranks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import scikit_posthocs as sp

    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.35 * len(test.names)))
    sp.critical_difference_diagram(
        pd.Series(test.ranks, index=test.names),
        pd.DataFrame(test.posthoc, index=test.names, columns=test.names),
        ax=ax,
    )
    from al4ml.report.render import _head

    ax.set_title(
        f"{_head(test.axis)}: mean rank over {len(test.blocks)} datasets (1 = best AULC)", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def ranks_blocks(ranked: list[RankTest], out: Path) -> list[Block]:
    """The report's sections across datasets (one per question), their diagrams written to ``out``."""
    from al4ml.report.render import _fmt_p, _head

    blocks: list[Block] = []
    for t in ranked:
        png = f"critical_difference_{_head(t.axis)}.png"
        plot_critical_difference(t, out / png)
        rows = [[b, *(f"{v:.3f}" for v in row)] for b, row in zip(t.blocks, t.table, strict=True)]
        blocks += [
            ("h2", f"Across datasets: {_head(t.axis)}"),
            (
                "p",
                f"Blocks: {len(t.blocks)} datasets (with the other axes' values); in each, "
                f"the {len(t.names)} values of {_head(t.axis)} ranked by mean AULC over "
                f"seeds (1 = highest). Friedman test (SciPy): chi-square = "
                f"{t.statistic:.2f}, p = {_fmt_p(t.p)}. Post hoc: Nemenyi's test over all "
                "pairs (scikit-posthocs); in the critical-difference diagram (Demšar, "
                "2006) values joined by a bar do not differ at 0.05.",
            ),
            ("img", png),
            ("table", (["dataset", *t.names], rows + [["mean rank", *(f"{r:.2f}" for r in t.ranks)]])),
        ]
    return blocks


def ranks_json(ranked: list[RankTest]) -> list[dict[str, Any]]:
    """The tests across datasets for ``summary.json``."""
    return [
        {
            "axis": t.axis,
            "values": t.names,
            "blocks": t.blocks,
            "mean_aulc": t.table.tolist(),
            "mean_ranks": t.ranks.tolist(),
            "friedman_chi2": t.statistic,
            "friedman_p": t.p,
            "nemenyi_p": t.posthoc.tolist(),
        }
        for t in ranked
    ]
