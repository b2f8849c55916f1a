"""The shipped notebook runs against a real MLflow store (its code cells, in order)."""

import json
import os
from pathlib import Path

import matplotlib
from conftest import tiny_config

from al4ml.experiment import run_experiment

REPO = Path(__file__).resolve().parents[1]


def test_learning_curves_notebook_runs(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(name="digits_quickstart")
    run_experiment(cfg, "sqlite:///mlruns.db", progress=False)
    nb = json.loads((REPO / "notebooks" / "learning_curves.ipynb").read_text())
    namespace: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "notebook", "exec"), namespace)  # noqa: S102
    assert len(namespace["curves"]) == 1
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert os.path.exists(tmp_path / "mlruns.db")
