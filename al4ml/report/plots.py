"""A report's figures: learning curves with bands, win matrices, searched policies per round."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from al4ml.report.collect import METRIC, ReportCell
from al4ml.report.stats import MIN_SEEDS, aligned, mean_ci
from al4ml.runs import (
    AUGMENTATION,
    label,
)


def plot_curves(cells: list[ReportCell], path: Path, metric: str = METRIC, x: str = "labels") -> None:
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
            ax.plot(
                steps,
                m,
                marker="o",
                ms=3,
                color=colors[name],
                ls=styles[name],
                label=f"{name} (n={cell.seeds}{few})",
            )
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
        ax.set_title(f"augmentation: {panel if panel_key else cells[0].values[AUGMENTATION]}", fontsize=10)
        ax.set_xlabel("labeled images" if x == "labels" else "spent cost (oracle.cost units)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel(f"{metric.replace('_', ' ')} (mean, 95 % CI over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _line(cell: ReportCell, panel_key: str | None) -> str:
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


def plot_policies(choices: dict[str, dict[str, list[tuple[int, str]]]], path: Path) -> None:
    """The policy each search chose, per round: one panel per searched cell (``choices``:
    cell label -> seed -> ``(labels, policy)``), one line per seed, policies on the y axis."""
    cells = list(choices)
    cols = min(2, len(cells))
    rows = -(-len(cells) // cols)
    fig = Figure(figsize=(6.4 * cols, 3.2 * rows))
    grid = fig.subplots(rows, cols, squeeze=False)
    axes = list(grid.flat)
    for ax in axes[len(cells) :]:
        ax.set_visible(False)
    for ax, cell in zip(axes, cells, strict=False):
        names = sorted({p for seed in choices[cell].values() for _, p in seed})
        y = {p: i for i, p in enumerate(names)}
        seeds = sorted(choices[cell], key=lambda s: (len(s), s))
        for i, seed in enumerate(seeds):
            points = sorted(choices[cell][seed])
            jitter = (i - (len(seeds) - 1) / 2) * 0.3 / max(1, len(seeds))
            ax.step(
                [n for n, _ in points],
                [y[p] + jitter for _, p in points],
                where="post",
                marker="o",
                ms=4,
                lw=1,
                alpha=0.8,
                label=f"seed {seed}",
            )
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_ylim(-0.5, len(names) - 0.5)
        ax.set_title(f"{cell}: policy chosen per round", fontsize=10)
        ax.set_xlabel("labeled images")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
