"""Links into MLflow's UI for what al4ml logged.

Per experiment, ``al4ml ui`` prints a link to its runs in MLflow's training view and one to
MLflow's metric page with the learning curves of its newest grid's cells (or of its single
runs): ``test_accuracy`` against step, which al4ml logs as the number of labels. For a grid
the runs link opens a saved view (:func:`grid_view`) that lists the grid's cells flat, shows
every one and draws the learning curve first, and a second one groups each setting's seeds
into a line with a band; MLflow's own default folds a grid's cells under its parent run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from al4ml.runs import ROLE_TAG, SETTING_NAME_TAG

CURVE_METRIC = "test_accuracy"
MAX_CURVES = 200
"""Runs per curves link (a URL carries their ids)."""


VIEW_TAG_PREFIX = "mlflow.sharedViewState."
"""An experiment tag MLflow's UI reads as a saved view (its "Share" button writes the same)."""


def runs_url(base: str, experiment_id: str, view: str | None = None) -> str:
    """The experiment's runs in MLflow 3's training view (not its GenAI overview); with a
    saved ``view`` (:func:`grid_views`), that view in the chart mode."""
    url = f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    return f"{url}&viewStateShareKey={view}&compareRunsMode=CHART" if view else url


def grid_view(parent_run_id: str, seeds_as_bands: bool = False) -> dict[str, Any]:
    """A saved view of one grid's cells: their runs flat (not folded under the parent) and all
    shown, learning curve first; with ``seeds_as_bands`` one line per setting, its seeds' mean
    with a min-max band (MLflow's run grouping, by the ``setting`` tag).

    MLflow folds child runs under their parent unless the list is sorted by something other
    than start time, and shows only the first 10 rows unless told otherwise; a saved view
    cannot unfold a parent (MLflow keeps that in the browser), so it sorts by name instead.
    """
    section = "al4ml-model-metrics"
    curve = {
        "uuid": "al4ml-learning-curve",
        "type": "LINE",
        "metricSectionId": section,
        "runsCountToCompare": MAX_CURVES,
        "deleted": False,
        "isGenerated": False,
        "displayName": CURVE_METRIC,
        "metricKey": CURVE_METRIC,
        "selectedMetricKeys": [CURVE_METRIC],
        "xAxisKey": "step",
        "xAxisScaleType": "linear",
        "scaleType": "linear",
        "lineSmoothness": 0,
        "selectedXAxisMetricKey": "",
        "yAxisKey": "metric",
        "yAxisExpressions": [],
        "ignoreOutliers": False,
        "useGlobalXaxisKey": True,
        "useGlobalLineSmoothing": True,
        "range": {"xMin": None, "xMax": None, "yMin": None, "yMax": None},
    }
    view: dict[str, Any] = {
        "searchFilter": f"tags.mlflow.parentRunId = '{parent_run_id}'",
        "orderByKey": "tags.`mlflow.runName`",
        "orderByAsc": True,
        "runsHiddenMode": "SHOW_ALL",
        "hideEmptyCharts": True,
        "compareRunCharts": [curve],
        "compareRunSections": [
            {
                "uuid": section,
                "name": "Model metrics",
                "display": True,
                "isReordered": True,
                "deleted": False,
                "isGenerated": True,
            }
        ],
        "isAccordionReordered": False,
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0, "selectedXAxisMetricKey": ""},
    }
    if seeds_as_bands:
        view["groupBy"] = {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "tag", "groupByData": SETTING_NAME_TAG}],
        }
        view["useGroupedValuesInCharts"] = True
    return view


def grid_views(client: Any, experiment_id: str, parent_run_id: str) -> tuple[str, str]:
    """Save the two views of a grid (:func:`grid_view`) as experiment tags; their keys."""
    keys = (f"al4ml-{parent_run_id}", f"al4ml-{parent_run_id}-bands")
    for key, bands in zip(keys, (False, True), strict=True):
        client.set_experiment_tag(
            experiment_id, VIEW_TAG_PREFIX + key, json.dumps(grid_view(parent_run_id, bands))
        )
    return keys


def curves_url(base: str, experiment_id: str, run_ids: list[str], metric: str = CURVE_METRIC) -> str:
    """MLflow's metric page: ``metric`` of every run in ``run_ids`` against step (= labels)."""
    query = {
        "runs": json.dumps(run_ids),
        "metric": json.dumps(metric),
        "experiments": json.dumps([experiment_id]),
        "plot_metric_keys": json.dumps([metric]),
        "plot_layout": "{}",
        "x_axis": "step",
        "y_axis_scale": "linear",
        "line_smoothness": "1",
        "show_point": "true",
        "deselected_curves": "[]",
        "last_linear_y_axis_range": "[]",
    }
    return f"{base}/#/metric/{quote(metric)}?{urlencode(query, quote_via=quote)}"


@dataclass(frozen=True)
class ExperimentLinks:
    """What ``al4ml ui`` prints for one experiment."""

    name: str
    runs: str  # the newest grid's chart view, where there is a grid
    curves: str | None
    curves_of: str  # what the curves link shows, e.g. "grid 'digits' v2: 18 runs"
    bands: str | None = None  # the newest grid's seeds as bands


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
        grids = client.search_runs(
            [eid], f"tags.`{ROLE_TAG}` = 'grid'", max_results=1, order_by=["attributes.start_time DESC"]
        )
        views: tuple[str | None, str | None] = (None, None)
        if grids:
            parent = grids[0]
            runs = client.search_runs(
                [eid], f"tags.mlflow.parentRunId = '{parent.info.run_id}'", max_results=MAX_CURVES
            )
            what = f"{parent.info.run_name}: {len(runs)} runs"
            views = grid_views(client, eid, parent.info.run_id)
        else:
            runs = client.search_runs([eid], f"tags.`{ROLE_TAG}` = 'run'", max_results=MAX_CURVES)
            what = f"{len(runs)} runs"
        ids = [r.info.run_id for r in runs if CURVE_METRIC in r.data.metrics]
        out.append(
            ExperimentLinks(
                exp.name,
                runs_url(base, eid, views[0]),
                curves_url(base, eid, ids) if ids else None,
                what,
                runs_url(base, eid, views[1]) if views[1] else None,
            )
        )
    return out
