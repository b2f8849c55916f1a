"""A report over a dataset axis: Friedman per question, Nemenyi post hoc, critical-difference
diagram, each checked against SciPy and scikit-posthocs called directly on the raw curves."""

import json
import zlib

import numpy as np
import pytest
import scikit_posthocs as sp
from helpers import tiny_config
from mlflow.entities import Metric, Param
from scipy import stats

from al4ml.report import build_report
from al4ml.runs import AXES_TAG, GRID_TAG, ROLE_TAG, SETTING_TAG, setting_hash
from al4ml.tracking import experiment_id, get_client

STEPS = [20, 40, 60, 80, 100]
FLAGS = ["pathmnist", "dermamnist", "breastmnist", "bloodmnist", "organamnist"]
AUGMENTATIONS = ["none", "trivialaugment", "autoaugment"]
LIFT = {"none": 0.0, "trivialaugment": 0.03, "autoaugment": 0.015}
"""Planted: TrivialAugment best, AutoAugment second, but not on every dataset (noise)."""


def curve(flag: str, aug: str, seed: int) -> list[float]:
    rng = np.random.default_rng(zlib.crc32(f"{flag}/{aug}/{seed}".encode()))
    base = np.array([0.4, 0.55, 0.65, 0.7, 0.74]) + 0.1 * FLAGS.index(flag) / len(FLAGS)
    return (base + LIFT[aug] + rng.normal(0, 0.015, len(base))).clip(0, 1).tolist()


def aulc(values: list[float]) -> float:
    span = STEPS[-1] - STEPS[0]
    return sum(
        (values[i] + values[i - 1]) / 2 * (STEPS[i] - STEPS[i - 1]) / span for i in range(1, len(STEPS))
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A 5-dataset x 3-augmentation x 2-seed grid as al4ml logs it, and its report."""
    tmp = tmp_path_factory.mktemp("datasets")
    client = get_client(f"sqlite:///{tmp / 'm.db'}")
    exp = experiment_id(client, "study")
    axes = {"dataset.options.flag": FLAGS, "augmentation.name": AUGMENTATIONS, "seed": [0, 1]}
    parent = client.create_run(
        exp, tags={ROLE_TAG: "grid", GRID_TAG: "study", AXES_TAG: json.dumps(axes)}
    ).info.run_id
    raw = np.zeros((len(FLAGS), len(AUGMENTATIONS)))
    for i, flag in enumerate(FLAGS):
        for j, aug in enumerate(AUGMENTATIONS):
            for seed in (0, 1):
                cfg = tiny_config(
                    **{
                        "dataset.name": "medmnist",
                        "dataset.options.flag": flag,
                        "augmentation.name": aug,
                        "seed": seed,
                    }
                )
                flat = cfg.flat()
                run = client.create_run(
                    exp,
                    tags={ROLE_TAG: "cell", SETTING_TAG: setting_hash(flat), "mlflow.parentRunId": parent},
                )
                params = [Param(k, v) for k, v in flat.items()]
                for k in range(0, len(params), 100):
                    client.log_batch(run.info.run_id, params=params[k : k + 100])
                values = curve(flag, aug, seed)
                client.log_batch(
                    run.info.run_id,
                    metrics=[Metric("test_accuracy", v, 0, s) for s, v in zip(STEPS, values, strict=True)],
                )
                client.set_terminated(run.info.run_id, "FINISHED")
                raw[i, j] += aulc(values) / 2
    out = tmp / "report"
    build_report(client, parent, out)
    return out, raw


def test_friedman_ranks_and_nemenyi_are_the_libraries_own(report):
    out, raw = report
    [test] = json.loads((out / "summary.json").read_text())["across_datasets"]
    assert test["axis"] == "augmentation.name" and len(test["blocks"]) == len(FLAGS)
    assert np.allclose(test["mean_aulc"], raw, atol=1e-12)
    statistic, p = stats.friedmanchisquare(*raw.T)
    assert test["friedman_chi2"] == pytest.approx(statistic) and test["friedman_p"] == pytest.approx(p)
    assert np.allclose(test["mean_ranks"], stats.rankdata(-raw, axis=1).mean(axis=0))
    assert np.allclose(test["nemenyi_p"], np.asarray(sp.posthoc_nemenyi_friedman(raw)))
    assert test["mean_ranks"][AUGMENTATIONS.index("trivialaugment")] == 1.0  # the planted best


def test_the_report_prints_the_test_and_draws_the_diagram(report):
    out, _ = report
    md = (out / "report.md").read_text()
    section = md[md.index("## Across datasets: augmentation") :]
    assert "Friedman test" in section and "Nemenyi" in section and "mean rank" in section
    assert "critical_difference_augmentation.png" in section
    png = out / "critical_difference_augmentation.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "critical_difference_augmentation.png" in (out / "report.html").read_text()
