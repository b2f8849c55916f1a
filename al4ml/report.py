"""Reports over many runs: learning curves with confidence bands, AULC, paired comparisons.

Reads runs through MLflow's client API (a grid's parent run id, or an experiment name) and
writes PNG plots, CSV tables, ``report.md`` and ``report.html`` into one folder; for a grid
the same files are logged as artifacts of its parent run, so the MLflow UI shows them.

Statistics (seeds are the replicates):
* mean and 95 % t-interval of the test accuracy at each label count;
* normalised area under the learning curve (AULC): the label axis scaled to [0, 1] between
  the first and last budget, trapezoid rule, so 1.0 means perfect accuracy at every budget;
* labels needed to reach ``--target`` accuracy (per seed, first budget at or above it);
* paired differences of AULC against ``random`` (same augmentation) and against ``none``
  (same strategy), paired over seeds, with 95 % t-intervals;
* pairwise win matrices as Ash et al. (2020) compute them: for every pair (i, j), every
  setting and every label count, a paired two-sided t-test over seeds; i wins when t exceeds
  the 95 % critical value; entries are summed over settings, each budget weighing 1 / (number
  of budgets), so an entry is "in how many settings i beat j, averaged over the budget".
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from scipy import stats  # noqa: E402

from al4ml.errors import ConfigError  # noqa: E402

METRIC = "test_accuracy"


@dataclass(frozen=True)
class Curve:
    """One run's learning curve."""

    run_id: str
    strategy: str
    augmentation: str
    seed: str
    steps: np.ndarray
    values: np.ndarray


def history(client: MlflowClient, run_id: str, metric: str = METRIC) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of a metric, sorted by step (last value per step wins)."""
    points = {m.step: m.value for m in sorted(client.get_metric_history(run_id, metric),
                                              key=lambda m: (m.step, m.timestamp))}
    steps = np.array(sorted(points), dtype=float)
    return steps, np.array([points[s] for s in sorted(points)], dtype=float)


def collect(client: MlflowClient, source: str, metric: str = METRIC
            ) -> tuple[list[Curve], dict[str, float], str | None]:
    """Curves, baseline accuracy by augmentation, and the grid parent run id (if any).

    Args:
        client: MLflow client.
        source: A grid parent run id, or an experiment name.
        metric: The metric to read (default ``test_accuracy``).
    """
    parent: str | None = None
    try:
        run = client.get_run(source)
        parent = run.info.run_id
        exp_id = run.info.experiment_id
        query = f"tags.mlflow.parentRunId = '{parent}'"
    except MlflowException:
        exp = client.get_experiment_by_name(source)
        if exp is None:
            raise ConfigError(f"no grid run or experiment named {source!r} in "
                              f"{client.tracking_uri}") from None
        exp_id, query = exp.experiment_id, ""
    runs = [r for r in client.search_runs([exp_id], query, max_results=50000)
            if r.info.status == "FINISHED"
            and r.data.tags.get("al4ml.role") not in ("grid", "baseline")]
    curves = []
    for r in runs:
        steps, values = history(client, r.info.run_id, metric)
        if len(steps):
            t = r.data.tags
            curves.append(Curve(r.info.run_id, t.get("strategy", "?"), t.get("augmentation", "?"),
                                t.get("seed", "0"), steps, values))
    baselines: dict[str, list[float]] = defaultdict(list)
    for r in client.search_runs([exp_id], "tags.`al4ml.role` = 'baseline'", max_results=1000):
        if r.info.status == "FINISHED" and metric in r.data.metrics:
            baselines[r.data.tags.get("augmentation", "?")].append(r.data.metrics[metric])
    if not curves:
        raise ConfigError(f"no finished active-learning runs found for {source!r}")
    return curves, {a: float(np.mean(v)) for a, v in baselines.items()}, parent


def mean_ci(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of the 95 % t-interval along ``axis`` (NaN half-width for n = 1)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    half = stats.t.ppf(0.975, n - 1) * x.std(axis=axis, ddof=1) / math.sqrt(n)
    return mean, half


def aulc(steps: np.ndarray, values: np.ndarray) -> float:
    """Normalised area under a learning curve (label axis scaled to [0, 1], trapezoid)."""
    if len(steps) == 1:
        return float(values[0])
    x = (steps - steps[0]) / (steps[-1] - steps[0])
    return float(np.trapezoid(values, x))


def labels_to_reach(steps: np.ndarray, values: np.ndarray, target: float) -> float:
    """First label count whose accuracy is >= ``target`` (NaN if never)."""
    hit = np.nonzero(values >= target)[0]
    return float(steps[hit[0]]) if len(hit) else float("nan")


Key = tuple[str, str]


def group(curves: list[Curve]) -> dict[Key, dict[str, Curve]]:
    """``{(strategy, augmentation): {seed: curve}}``."""
    out: dict[Key, dict[str, Curve]] = defaultdict(dict)
    for c in curves:
        out[c.strategy, c.augmentation][c.seed] = c
    return dict(sorted(out.items()))


def aligned(by_seed: dict[str, Curve], seeds: list[str] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Steps common to the given seeds' curves and a ``[seeds, steps]`` value matrix."""
    seeds = seeds or sorted(by_seed)
    common = sorted(set.intersection(*(set(by_seed[s].steps.tolist()) for s in seeds)))
    steps = np.array(common, dtype=float)
    vals = np.stack([[dict(zip(by_seed[s].steps.tolist(), by_seed[s].values.tolist(), strict=True))[x]
                      for x in common] for s in seeds])
    return steps, vals


@dataclass
class CellSummary:
    """Per (strategy, augmentation): AULC mean and CI, labels to reach the target."""

    strategy: str
    augmentation: str
    seeds: int
    aulc_mean: float
    aulc_ci: float
    final_mean: float
    final_ci: float
    reach_mean: float
    reached: int


def summarize(groups: dict[Key, dict[str, Curve]], target: float) -> list[CellSummary]:
    """One :class:`CellSummary` per group."""
    out = []
    for (strategy, aug), by_seed in groups.items():
        steps, vals = aligned(by_seed)
        areas = np.array([aulc(steps, v) for v in vals])
        a_mean, a_ci = mean_ci(areas)
        f_mean, f_ci = mean_ci(vals[:, -1])
        reach = np.array([labels_to_reach(steps, v, target) for v in vals])
        ok = reach[~np.isnan(reach)]
        out.append(CellSummary(strategy, aug, len(vals), float(a_mean), float(a_ci), float(f_mean),
                               float(f_ci), float(ok.mean()) if len(ok) else float("nan"), len(ok)))
    return out


@dataclass
class Paired:
    """A paired comparison of AULC over seeds."""

    what: str
    against: str
    setting: str
    seeds: int
    diff_mean: float
    diff_ci: float


def paired_aulc(groups: dict[Key, dict[str, Curve]], a: Key, b: Key) -> tuple[np.ndarray, int]:
    """Per-seed AULC differences ``a - b`` over the seeds both have."""
    seeds = sorted(set(groups[a]) & set(groups[b]))
    if not seeds:
        return np.array([]), 0
    ca, cb = groups[a], groups[b]
    diffs = [aulc(ca[s].steps, ca[s].values) - aulc(cb[s].steps, cb[s].values) for s in seeds]
    return np.array(diffs), len(seeds)


def comparisons(groups: dict[Key, dict[str, Curve]]) -> list[Paired]:
    """Every strategy vs ``random`` (same augmentation), every augmentation vs ``none``."""
    out = []
    for (strategy, aug) in groups:
        for base, label, setting in ((("random", aug), "random", aug),
                                     ((strategy, "none"), "none", strategy)):
            if base == (strategy, aug) or base not in groups:
                continue
            d, n = paired_aulc(groups, (strategy, aug), base)
            if n:
                m, ci = mean_ci(d)
                what = strategy if label == "random" else aug
                out.append(Paired(what, label, setting, n, float(m), float(ci)))
    return out


def win_matrix(groups: dict[Key, dict[str, Curve]], by: str = "strategy"
               ) -> tuple[list[str], np.ndarray]:
    """Ash et al.'s pairwise win matrix over strategies (settings: augmentations) or vice versa.

    Returns:
        Names and ``P [n, n]``: ``P[i, j]`` sums over settings of the fraction of label counts
        at which i beats j in a paired two-sided t-test at 95 % over seeds.
    """
    pos = 0 if by == "strategy" else 1
    names = sorted({k[pos] for k in groups})
    settings = sorted({k[1 - pos] for k in groups})
    p = np.zeros((len(names), len(names)))
    for setting in settings:
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                ka = (a, setting) if pos == 0 else (setting, a)
                kb = (b, setting) if pos == 0 else (setting, b)
                if i == j or ka not in groups or kb not in groups:
                    continue
                seeds = sorted(set(groups[ka]) & set(groups[kb]))
                if len(seeds) < 2:
                    continue
                steps_a, va = aligned(groups[ka], seeds)
                steps_b, vb = aligned(groups[kb], seeds)
                common = sorted(set(steps_a.tolist()) & set(steps_b.tolist()))
                ia = [steps_a.tolist().index(x) for x in common]
                ib = [steps_b.tolist().index(x) for x in common]
                d = va[:, ia] - vb[:, ib]
                sd = d.std(axis=0, ddof=1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    t = d.mean(axis=0) / (sd / math.sqrt(len(seeds)))
                crit = stats.t.ppf(0.975, len(seeds) - 1)
                p[i, j] += float(np.mean(np.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0) > crit))
    return names, p


def _fmt(x: float, ci: float | None = None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    s = f"{x:.{digits}f}"
    if ci is not None and not math.isnan(ci):
        s += f" ± {ci:.{digits}f}"
    return s


def plot_curves(groups: dict[Key, dict[str, Curve]], baselines: dict[str, float], path: Path,
                metric: str = METRIC) -> None:
    """Mean learning curve with 95 % band per strategy, one panel per augmentation."""
    augs = sorted({a for _, a in groups})
    fig, axes = plt.subplots(1, len(augs), figsize=(5.2 * len(augs), 4.2), sharey=True, squeeze=False)
    colors = {s: f"C{i}" for i, s in enumerate(sorted({s for s, _ in groups}))}
    for ax, aug in zip(axes[0], augs, strict=True):
        for (strategy, a), by_seed in groups.items():
            if a != aug:
                continue
            steps, vals = aligned(by_seed)
            m, h = mean_ci(vals)
            ax.plot(steps, m, marker="o", ms=3, color=colors[strategy],
                    label=f"{strategy} (n={len(vals)})")
            if not np.isnan(h).all():
                ax.fill_between(steps, m - h, m + h, color=colors[strategy], alpha=0.18)
        if aug in baselines:
            ax.axhline(baselines[aug], color="k", ls="--", lw=1, label="full training set")
        ax.set_title(f"augmentation: {aug}")
        ax.set_xlabel("labeled images")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0][0].set_ylabel(f"{metric.replace('_', ' ')} (mean, 95 % CI over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_win_matrix(names: list[str], p: np.ndarray, path: Path, title: str) -> None:
    """Heatmap of a pairwise win matrix (row beats column)."""
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2.5, 1.0 * len(names) + 1.5))
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
    plt.close(fig)


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
            trs = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                          for r in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:"
             "collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
             "img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def build_report(client: MlflowClient, source: str, out: Path, target: float = 0.9,
                 metric: str = METRIC) -> Path:
    """Write the report for ``source`` (grid run id or experiment name) into ``out``.

    Returns:
        The path of ``report.md``.
    """
    curves, baselines, parent = collect(client, source, metric)
    groups = group(curves)
    out.mkdir(parents=True, exist_ok=True)
    summaries = summarize(groups, target)
    pairs = comparisons(groups)
    plot_curves(groups, baselines, out / "learning_curves.png", metric)
    blocks: list[Block] = [
        ("h1", f"Active-learning report: {source}"),
        ("p", f"{len(curves)} runs, {len(groups)} strategy × augmentation cells, metric "
              f"{metric}. Means with 95 % t-intervals over seeds. AULC: area under the learning "
              "curve with the label axis scaled to [0, 1] (trapezoid rule)."),
        ("h2", "Learning curves"), ("img", "learning_curves.png"),
        ("h2", f"AULC and labels to reach {target:.2f}"),
        ("table", (["strategy", "augmentation", "seeds", "AULC", f"{metric} at the last budget",
                    f"labels to reach {target:.2f}", "seeds reaching it"],
                   [[s.strategy, s.augmentation, s.seeds, _fmt(s.aulc_mean, s.aulc_ci),
                     _fmt(s.final_mean, s.final_ci), _fmt(s.reach_mean, None, 0),
                     f"{s.reached}/{s.seeds}"] for s in summaries])),
    ]
    if baselines:
        blocks.append(("p", "Full training set (baseline runs): " + ", ".join(
            f"{a}: {v:.3f}" for a, v in sorted(baselines.items()))))
    if pairs:
        blocks += [("h2", "Paired comparisons (AULC difference, paired over seeds)"),
                   ("table", (["compared", "against", "setting", "seeds", "Δ AULC"],
                              [[p.what, p.against, p.setting, p.seeds, _fmt(p.diff_mean, p.diff_ci)]
                               for p in pairs]))]
    for by, setting in (("strategy", "augmentations"), ("augmentation", "strategies")):
        names, p = win_matrix(groups, by)
        if len(names) > 1:
            png = f"win_matrix_{by}.png"
            plot_win_matrix(names, p, out / png, f"{by}: row beats column (settings: {setting})")
            blocks += [("h2", f"Pairwise win matrix: {by}"),
                       ("p", f"Entry (i, j): summed over {setting}, the fraction of label budgets "
                             "at which i beats j (paired two-sided t-test over seeds, 95 %)."),
                       ("img", png),
                       ("table", ([by] + names, [[n] + [f"{v:.2f}" for v in row]
                                                 for n, row in zip(names, p, strict=True)]))]
    (out / "aulc.csv").write_text(
        "strategy,augmentation,seeds,aulc_mean,aulc_ci95,final_mean,final_ci95,labels_to_target\n"
        + "".join(f"{s.strategy},{s.augmentation},{s.seeds},{s.aulc_mean:.6f},{s.aulc_ci:.6f},"
                  f"{s.final_mean:.6f},{s.final_ci:.6f},{s.reach_mean}\n" for s in summaries))
    md = out / "report.md"
    md.write_text(render_markdown(blocks))
    (out / "report.html").write_text(render_html(blocks, f"al4ml report {source}"))
    if parent:
        for f in sorted(out.iterdir()):
            if f.suffix in (".md", ".html", ".png", ".csv"):
                client.log_artifact(parent, str(f), "report")
    return md
