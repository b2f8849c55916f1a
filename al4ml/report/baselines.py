"""A report of full-data baselines alone (``al4ml report`` on an experiment that holds only
baselines, such as ``experiments/grid_baselines_breastmnist.yaml``'s): one row per training
setting, its seeds pooled, the settings labelled by the keys in which they differ."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.tracking import MlflowClient

from al4ml.errors import ConfigError
from al4ml.report.collect import Source, finished_baselines, label_keys
from al4ml.report.render import _head, render_html, render_markdown
from al4ml.report.stats import mean_ci
from al4ml.runs import CEILING_PREFIX, setting_hash, training_setting

COLUMNS = ("test_accuracy", "test_auc")


def baseline_rows(client: MlflowClient, source: Source) -> tuple[list[str], list[dict[str, Any]]]:
    """The finished baselines of ``source`` grouped by training setting: the label keys, and
    per setting its label values, seeds, per-seed test scores and selected epochs."""
    groups: dict[str, dict[str, Any]] = {}
    for r, config in finished_baselines(client, source):
        if f"{CEILING_PREFIX}test_accuracy" not in r.data.metrics:
            continue
        key = setting_hash(training_setting(config))
        group = groups.setdefault(key, {"setting": training_setting(config), "seeds": {}})
        seed = config.get("seed", "0")
        if seed in group["seeds"]:  # the same seed twice: the newest run counts
            continue
        group["seeds"][seed] = {
            name: r.data.metrics.get(CEILING_PREFIX + name)
            for name in (*COLUMNS, "selected_epoch", "n_labeled")
        }
    if not groups:
        raise ConfigError(f"no finished active-learning runs or baselines found for {source.title!r}")
    keys = [
        k
        for k in label_keys([g["setting"] for g in groups.values()], source.axes)
        if any(k in g["setting"] for g in groups.values())
    ]
    rows = []
    for g in groups.values():
        seeds = sorted(g["seeds"], key=lambda s: (len(s), s))
        row: dict[str, Any] = {"values": {k: g["setting"].get(k, "-") for k in keys}, "seeds": seeds}
        for name in (*COLUMNS, "selected_epoch"):
            row[name] = [g["seeds"][s][name] for s in seeds]
        rows.append(row)
    return keys, rows


def _mean_sd(values: list[float | None]) -> str:
    x = np.array([v for v in values if v is not None], dtype=float)
    if not len(x):
        return "–"
    return f"{x.mean():.3f}" + (f" ± {x.std(ddof=1):.3f}" if len(x) > 1 else "")


def build_baseline_report(client: MlflowClient, source: Source, out: Path) -> Path:
    """``report.md``/``.html``, ``baselines.csv`` and ``summary.json`` of the baselines of
    ``source``: per training setting, test accuracy and AUC (mean ± sd over seeds, with a
    95 % t-interval in the CSV), each seed's accuracy and the epoch each kept."""
    keys, rows = baseline_rows(client, source)
    out.mkdir(parents=True, exist_ok=True)
    heads = [_head(k) for k in keys]
    table = []
    for row in rows:
        epochs = row["selected_epoch"]
        kept = (
            "last"
            if all(e is None for e in epochs)
            else ", ".join("last" if e is None else f"{e:.0f}" for e in epochs)
        )
        table.append(
            [
                *row["values"].values(),
                len(row["seeds"]),
                _mean_sd(row["test_accuracy"]),
                _mean_sd(row["test_auc"]),
                ", ".join(f"{v:.3f}" for v in row["test_accuracy"] if v is not None),
                kept,
            ]
        )
    blocks: list[tuple[str, Any]] = [
        ("h1", f"{source.title}: full-data baselines"),
        (
            "p",
            f"{sum(len(r['seeds']) for r in rows)} finished baseline runs of experiment "
            f"{source.title} (no active-learning runs): each trained on the whole training "
            "split. Runs are pooled when their training setting is equal but for the seed; "
            "settings are labelled by the keys in which they differ. Mean ± sd over seeds.",
        ),
        (
            "table",
            (
                heads
                + ["seeds", "test accuracy (mean ± sd)", "test AUC", "per seed (acc)", "selected epoch"],
                table,
            ),
        ),
    ]
    md = out / "report.md"
    md.write_text(render_markdown(blocks))
    (out / "report.html").write_text(render_html(blocks, f"{source.title}: al4ml baselines"))
    with (out / "baselines.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [*heads, "seeds", "test_accuracy_mean", "test_accuracy_ci95", "test_auc_mean", "test_auc_ci95"]
        )
        for row in rows:
            stats = []
            for name in COLUMNS:
                x = np.array([v for v in row[name] if v is not None], dtype=float)
                m, h = mean_ci(x) if len(x) else (np.nan, np.nan)
                stats += [f"{float(m):.6f}", f"{float(h):.6f}"]
            w.writerow([*row["values"].values(), len(row["seeds"]), *stats])
    (out / "summary.json").write_text(
        json.dumps(
            {
                "title": source.title,
                "baselines": [
                    {
                        "values": row["values"],
                        "seeds": row["seeds"],
                        **{n: row[n] for n in (*COLUMNS, "selected_epoch")},
                    }
                    for row in rows
                ],
            },
            indent=2,
        )
    )
    return md
