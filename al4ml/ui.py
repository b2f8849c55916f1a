"""Links into MLflow's UI for what al4ml logged.

MLflow's runs page nests a grid's cells under the grid's parent run, collapsed, so its chart
view of a grid experiment shows no curve until a user expands the parent (MLflow keeps that
state in the browser, not the store). ``al4ml ui`` therefore prints, per experiment, a link
to its runs in the training view and one to MLflow's metric page with the learning curves of
the newest grid's cells (or of the experiment's single runs): ``test_accuracy`` against step,
which al4ml logs as the number of labels, one line per cell and seed, named
``strategy+augmentation/s<seed>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from al4ml.runs import ROLE_TAG

CURVE_METRIC = "test_accuracy"
MAX_CURVES = 200
"""Runs per curves link (a URL carries their ids)."""


def runs_url(base: str, experiment_id: str) -> str:
    """The experiment's runs in MLflow 3's training view (not its GenAI overview)."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def curves_url(base: str, experiment_id: str, run_ids: list[str],
               metric: str = CURVE_METRIC) -> str:
    """MLflow's metric page: ``metric`` of every run in ``run_ids`` against step (= labels)."""
    query = {"runs": json.dumps(run_ids), "metric": json.dumps(metric),
             "experiments": json.dumps([experiment_id]), "plot_metric_keys": json.dumps([metric]),
             "plot_layout": "{}", "x_axis": "step", "y_axis_scale": "linear",
             "line_smoothness": "1", "show_point": "true", "deselected_curves": "[]",
             "last_linear_y_axis_range": "[]"}
    return f"{base}/#/metric/{quote(metric)}?{urlencode(query, quote_via=quote)}"


@dataclass(frozen=True)
class ExperimentLinks:
    """What ``al4ml ui`` prints for one experiment."""

    name: str
    runs: str
    curves: str | None
    curves_of: str  # what the curves link shows, e.g. "grid 'digits' v2: 18 runs"


def store_links(client: Any, base: str, limit: int = 20) -> list[ExperimentLinks]:
    """Links for the ``limit`` most recently updated experiments that hold runs.

    Args:
        client: An MLflow client on the store.
        base: The UI's address, e.g. ``http://127.0.0.1:5000``.
    """
    out = []
    for exp in client.search_experiments(order_by=["last_update_time DESC"], max_results=limit):
        eid = exp.experiment_id
        if not client.search_runs([eid], max_results=1):
            continue
        grids = client.search_runs([eid], f"tags.`{ROLE_TAG}` = 'grid'", max_results=1,
                                   order_by=["attributes.start_time DESC"])
        if grids:
            parent = grids[0]
            runs = client.search_runs([eid], f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                      max_results=MAX_CURVES)
            what = f"{parent.info.run_name}: {len(runs)} runs"
        else:
            runs = client.search_runs([eid], f"tags.`{ROLE_TAG}` = 'run'", max_results=MAX_CURVES)
            what = f"{len(runs)} runs"
        ids = [r.info.run_id for r in runs if CURVE_METRIC in r.data.metrics]
        out.append(ExperimentLinks(exp.name, runs_url(base, eid),
                                   curves_url(base, eid, ids) if ids else None, what))
    return out
