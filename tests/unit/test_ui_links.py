"""The links ``al4ml ui`` prints and the saved views behind them, on a real MLflow store."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from al4ml.runs import GRID_TAG, ROLE_TAG
from al4ml.tracking import experiment_id, get_client
from al4ml.ui import VIEW_TAG_PREFIX, grid_view, store_links

BASE = "http://127.0.0.1:5000"


def query(url: str) -> dict[str, list[str]]:
    """The query of a hash-routed UI link."""
    return parse_qs(urlsplit(urlsplit(url).fragment).query)


def test_a_grid_view_lists_its_cells_flat_all_shown_learning_curve_first():
    view = grid_view("abc")
    assert view["searchFilter"] == "tags.mlflow.parentRunId = 'abc'"
    # MLflow folds children under their parent when sorted by start time (or not at all)
    assert view["orderByKey"] not in ("", "attributes.start_time")
    assert view["runsHiddenMode"] == "SHOW_ALL"
    first = view["compareRunCharts"][0]
    assert (first["type"], first["metricKey"], first["xAxisKey"]) == ("LINE", "test_accuracy", "step")
    section = view["compareRunSections"][0]
    assert first["metricSectionId"] == section["uuid"]
    assert section["isReordered"]  # MLflow appends the other metrics' charts after it
    assert "groupBy" not in view
    bands = grid_view("abc", seeds_as_bands=True)
    assert bands["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": "setting"}]
    assert {k: v for k, v in bands.items() if k not in ("groupBy", "useGroupedValuesInCharts")} == view


def test_store_links_save_the_newest_grids_views_and_link_them(tmp_path):
    client = get_client(f"sqlite:///{tmp_path / 'm.db'}")
    eid = experiment_id(client, "g")
    parents = [
        client.create_run(
            eid, tags={ROLE_TAG: "grid", GRID_TAG: "g"}, run_name=f"grid g v{v}", start_time=1000 * v
        )
        for v in (1, 2)
    ]
    newest = parents[1].info.run_id
    for seed in (0, 1):
        run = client.create_run(
            eid, tags={ROLE_TAG: "cell", "mlflow.parentRunId": newest}, run_name=f"random+none/s{seed}"
        )
        client.log_metric(run.info.run_id, "test_accuracy", 0.5, step=20)
    single = client.create_run(experiment_id(client, "single"), tags={ROLE_TAG: "run"})
    client.log_metric(single.info.run_id, "test_accuracy", 0.5, step=20)

    links = {link.name: link for link in store_links(client, BASE)}
    grid = links["g"]
    assert grid.curves_of == "grid g v2: 2 runs"
    runs, bands = query(grid.runs), query(grid.bands or "")
    assert runs["compareRunsMode"] == ["CHART"] and runs["workflowType"] == ["machine_learning"]
    tags = client.get_experiment(eid).tags
    assert json.loads(tags[VIEW_TAG_PREFIX + runs["viewStateShareKey"][0]]) == grid_view(newest)
    assert json.loads(tags[VIEW_TAG_PREFIX + bands["viewStateShareKey"][0]]) == grid_view(
        newest, seeds_as_bands=True
    )
    assert len(json.loads(query(grid.curves or "")["runs"][0])) == 2
    assert links["single"].bands is None and "viewStateShareKey" not in links["single"].runs
    again = {link.name: link for link in store_links(client, BASE)}["g"]
    assert again == grid  # the same keys: views are saved once per grid, not once per start
