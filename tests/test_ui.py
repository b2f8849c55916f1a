"""MLflow's UI on a grid al4ml logged, in a real headless Chromium (Playwright, system chromium).

Set ``AL4ML_UI_SHOTS=docs/ui`` to write the README's screenshots; otherwise they go to the
test's temp folder.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from procs import HANG
from servers import free_port, wait_for
from test_grid import write_grid

from al4ml.tracking import get_client

pytestmark = pytest.mark.slow


def chromium() -> str:
    """The system Chromium (Playwright's own browser download is not used)."""
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed "
                        "(pip install -e '.[dev]')")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does it when it can)")
    return path


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory) -> str:
    """A two-strategy, two-seed digits grid: four cells of 20, 40 and 60 labels."""
    folder = tmp_path_factory.mktemp("ui")
    path = write_grid(folder, {"query.strategy": ["random", "entropy"], "seed": [0, 1]}, name="ui",
                      **{"budget.initial": 20, "budget.per_round": 20, "budget.total": 60,
                         "training.epochs": 1, "model.options.width": 4})
    uri = f"sqlite:///{folder / 'mlruns.db'}"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.run([sys.executable, "-m", "al4ml.cli", "-q", "grid", str(path),
                           "--tracking-uri", uri], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=HANG)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return uri


def start_ui(uri: str, log: Path) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """``al4ml ui`` on a free port; its address and the links it printed for experiment 'ui'."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "al4ml.cli", "ui", "--tracking-uri", uri,
                             "--port", str(port)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=log.open("w"), text=True)
    lines = []
    while not (lines and lines[-1].strip().startswith("(")):  # the curves link's caption
        line = proc.stdout.readline()
        assert line, "al4ml ui ended before printing its links: " + log.read_text()[-2000:]
        lines.append(line)
    links = {ln.split()[0]: ln.split()[1] for ln in lines if ln.startswith("  ") and "http" in ln}
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/health", "al4ml ui", log)
    return proc, base, links


def test_the_ui_shows_a_grids_runs_and_learning_curves_over_labels(grid_store, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    executable = chromium()
    shots = Path(os.environ.get("AL4ML_UI_SHOTS", tmp_path))
    shots = shots if shots.is_absolute() else REPO / shots
    shots.mkdir(parents=True, exist_ok=True)
    client = get_client(grid_store)
    cells = {r.info.run_name: r for r in client.search_runs(
        [client.get_experiment_by_name("ui").experiment_id], "tags.`al4ml.role` = 'cell'")}
    names = sorted(cells)
    assert names == ["entropy+none/s0", "entropy+none/s1", "random+none/s0", "random+none/s1"]
    proc, base, links = start_ui(grid_store, tmp_path / "ui.log")
    try:
        assert links["runs"].startswith(base) and "workflowType=machine_learning" in links["runs"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable,
                                        args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})

            page.goto(links["runs"])  # the training view, not MLflow 3's GenAI overview
            parent = page.locator(".ag-row", has_text="grid ui").first
            parent.wait_for(timeout=60_000)
            assert page.get_by_text("Model training").count()
            parent.locator('[col-id="attributes.`Run Name`"] button').first.click()  # expand
            for name in names:
                row = page.locator(".ag-row", has_text=name).first
                row.wait_for(timeout=30_000)
                swatch = row.locator("[data-testid=experiment-view-table-run-color] input")
                assert swatch.get_attribute("value") == cells[name].data.tags["mlflow.runColor"]
            close = page.get_by_role("button", name="Close")
            if close.count():  # MLflow's assistant panel covers the charts
                close.first.click()
            page.goto(links["runs"] + "&compareRunsMode=CHART")
            accuracy = page.get_by_text("test_accuracy", exact=True).first
            accuracy.wait_for(timeout=60_000)
            for name in names:  # plotly draws the legends after the cards appear
                page.get_by_text(f"{name} (test_accuracy)").first.wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "grid_charts.png"))

            page.goto(links["curves"])
            plot = page.locator(".js-plotly-plot").first
            plot.wait_for(timeout=60_000)
            points = plot.locator(".scatterlayer .point")
            expect(points).to_have_count(4 * 3, timeout=60_000)  # 4 runs, 3 rounds
            for tick in ("20", "40", "60"):
                expect(plot.locator(".xtick text", has_text=re.compile(f"^{tick}$")).first
                       ).to_be_visible(timeout=60_000)
            expect(plot.locator(".xtitle")).to_have_text("Step", timeout=60_000)
            for name in names:  # MLflow's legend, under the plot
                page.get_by_text(f"{name} (test_accuracy)").first.wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "grid_curves.png"))
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert (shots / "grid_charts.png").stat().st_size > 10_000


def test_ui_of_a_tracking_server_prints_the_servers_links_and_starts_nothing(tmp_path):
    """For a server the UI is the server: its links, exit 0, no second UI (an ``mlflow ui``
    with the server's URL as its backend store died and left its links dead)."""
    from procs import al4ml
    from servers import MlflowServer

    from al4ml.tracking import experiment_id

    server = MlflowServer(tmp_path)
    server.start()
    try:
        client = get_client(server.uri)
        eid = experiment_id(client, "served")
        run = client.create_run(eid, tags={"al4ml.role": "run"})
        client.log_metric(run.info.run_id, "test_accuracy", 0.5, step=20)
        proc = al4ml("ui", "--tracking-uri", server.uri, cwd=tmp_path, timeout=120)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    assert f"{server.uri} is a tracking server, and its UI" in proc.stdout
    assert f"  runs    {server.uri}/#/experiments/{eid}/runs" in proc.stdout
    assert f"  curves  {server.uri}/#/metric/test_accuracy" in proc.stdout
    away = al4ml("ui", "--tracking-uri", server.uri, cwd=tmp_path, timeout=120)
    lines = [ln for ln in away.stderr.splitlines() if ln.strip()]
    assert away.returncode == 2 and len(lines) == 1 and "does not answer" in lines[0], away.stderr
