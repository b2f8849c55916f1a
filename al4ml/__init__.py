"""al4ml: active learning for image classification, simulated and logged to MLflow.

The Python API (imported on first use, so ``import al4ml`` stays light)::

    from al4ml import load_config, run_experiment, run_grid, write_report

    cfg = load_config("experiments/digits_quickstart.yaml", ["budget.total=60"])
    run = run_experiment(cfg, "sqlite:///mlruns.db")           # one experiment
    grid = run_grid("experiments/grid_digits.yaml", workers=2)  # a grid, as cohorts
    write_report(grid.parent_run_id, out="report")              # its report
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from al4ml.config import load_config
    from al4ml.experiment import run_experiment
    from al4ml.grid import run_grid

_API = {"load_config": "al4ml.config", "run_experiment": "al4ml.experiment", "run_grid": "al4ml.grid"}


def write_report(
    source: str,
    out: str | Path = "report",
    tracking_uri: str | None = None,
    target: float = 0.9,
    x: str = "labels",
) -> Path:
    """Write the report of a grid (its parent run id) or an experiment (its name) into ``out``
    (``x="cost"``: over the spent cost of priced runs instead of labels).

    Returns:
        The path of ``report.md`` (``summary.json`` beside it holds the tables as JSON).
    """
    from al4ml.report import build_report
    from al4ml.store import existing_store, resolve_tracking_uri
    from al4ml.tracking import get_client

    return build_report(
        get_client(existing_store(resolve_tracking_uri(tracking_uri))), source, Path(out), target, x=x
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'al4ml' has no attribute {name!r}")


__all__ = ["__version__", "load_config", "run_experiment", "run_grid", "write_report"]
