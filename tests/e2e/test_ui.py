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
from helpers import HANG, REPO, free_port, wait_for, write_grid

from al4ml.tracking import get_client


def chromium() -> str:
    """The system Chromium (Playwright's own browser download is not used)."""
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does it when it can)")
    return path


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory) -> str:
    """A user's store: a three-strategy, four-seed digits grid (12 cells of 20, 40 and 60
    labels) and the grid's full-data baselines in the same experiment."""
    folder = tmp_path_factory.mktemp("ui")
    path = write_grid(
        folder,
        {"query.strategy": ["random", "entropy", "margin"], "seed": [0, 1, 2, 3]},
        name="ui",
        **{
            "budget.initial": 20,
            "budget.per_round": 20,
            "budget.total": 60,
            "training.epochs": 1,
            "model.options.width": 4,
        },
    )
    uri = f"sqlite:///{folder / 'mlruns.db'}"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    for command in (["grid", str(path)], ["baseline", str(path), "--set", "training.epochs=1"]):
        proc = subprocess.run(
            [sys.executable, "-m", "al4ml.cli", "-q", *command, "--tracking-uri", uri],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=HANG,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return uri


def start_ui(uri: str, log: Path) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """``al4ml ui`` on a free port; its address and the links it printed for experiment 'ui'."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "al4ml.cli", "ui", "--tracking-uri", uri, "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    lines = []
    while not (lines and lines[-1].strip().startswith("(")):  # the curves link's caption
        line = proc.stdout.readline()
        assert line, "al4ml ui ended before printing its links: " + log.read_text()[-2000:]
        lines.append(line)
    links = {ln.split()[0]: ln.split()[1] for ln in lines if ln.startswith("  ") and "http" in ln}
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/health", "al4ml ui", log, proc)
    return proc, base, links


def rgb(color: str) -> str:
    """``#1f77b4`` as the browser writes a stroke: ``rgb(31, 119, 180)``."""
    return "rgb({}, {}, {})".format(*(int(color[i : i + 2], 16) for i in (1, 3, 5)))


def line_colors(card) -> set[str]:
    """The stroke colours of the lines a chart card draws, once it has drawn one."""
    lines = card.locator(".scatterlayer .trace .js-line")
    lines.first.wait_for()
    return set(lines.evaluate_all("els => els.map(e => e.style.stroke)"))


def test_the_ui_opens_on_the_grids_learning_curves_with_every_cell_shown(grid_store, tmp_path):
    """The printed runs link: the newest grid's 12 cells unfolded and all shown, the learning
    curve the first chart with a line per cell (baselines' ``ceiling_*`` charts nowhere);
    the bands link: a setting's four seeds as one line with a band; the curves link."""
    from playwright.sync_api import expect, sync_playwright

    executable = chromium()
    shots = Path(os.environ.get("AL4ML_UI_SHOTS", tmp_path))
    shots = shots if shots.is_absolute() else REPO / shots
    shots.mkdir(parents=True, exist_ok=True)
    client = get_client(grid_store)
    eid = client.get_experiment_by_name("ui").experiment_id
    cells = {r.info.run_name: r for r in client.search_runs([eid], "tags.`al4ml.role` = 'cell'")}
    names = sorted(cells)
    assert len(names) == 12 and names[0] == "entropy+none/s0", names
    colors = {name: cells[name].data.tags["mlflow.runColor"] for name in names}
    assert len(set(colors.values())) == 12
    assert len(client.search_runs([eid], "tags.`al4ml.role` = 'baseline'")) == 4
    proc, base, links = start_ui(grid_store, tmp_path / "ui.log")
    try:
        assert links["runs"].startswith(base) and "workflowType=machine_learning" in links["runs"]
        assert "compareRunsMode=CHART" in links["runs"]
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(HANG * 1000)  # waits for what the page draws: hang guards
            expect.set_options(timeout=HANG * 1000)

            page.goto(links["runs"])  # the training view, not MLflow 3's GenAI overview
            for name in names:  # unfolded, in name order, each in its colour
                row = page.locator(".ag-row", has_text=name).first
                row.wait_for()
                swatch = row.locator("[data-testid=experiment-view-table-run-color] input")
                assert swatch.get_attribute("value") == colors[name]
            assert page.get_by_text("Model training").count()
            assert page.locator(".ag-row", has_text="baseline+").count() == 0
            close = page.get_by_role("button", name="Close")
            if close.count():  # MLflow's assistant panel covers the charts
                close.first.click()
            cards = page.locator("[data-testid=experiment-view-compare-runs-card]")
            first = cards.first
            expect(first.locator("h4").first).to_have_text("test_accuracy")
            expect(first.locator(".xtitle")).to_have_text("Step")
            for tick in ("20", "40", "60"):  # step = labels
                expect(first.locator(".xtick text", has_text=re.compile(f"^{tick}$")).first).to_be_visible()
            expect(first.locator(".scatterlayer .trace .js-line")).to_have_count(
                2 * len(names)
            )  # MLflow draws each run's line twice
            assert line_colors(first) == {rgb(c) for c in colors.values()}
            titles = cards.locator("h4").all_inner_texts()
            assert not [t for t in titles if t.startswith("ceiling_")], titles
            page.screenshot(path=str(shots / "grid_charts.png"))

            page.goto(links["bands"])
            groups = page.locator(".ag-row", has_text="Group: ")
            expect(groups).to_have_count(3)
            assert sorted(t.split("Group: ")[1].split()[0] for t in groups.all_inner_texts()) == [
                "entropy+none",
                "margin+none",
                "random+none",
            ]
            first = page.locator("[data-testid=experiment-view-compare-runs-card]").first
            expect(first.locator("h4").first).to_have_text("test_accuracy")
            expect(first.locator(".scatterlayer .trace .js-fill")).to_have_count(3)
            page.screenshot(path=str(shots / "grid_bands.png"))

            page.goto(links["curves"])
            plot = page.locator(".js-plotly-plot").first
            plot.wait_for()
            points = plot.locator(".scatterlayer .point")
            expect(points).to_have_count(len(names) * 3)  # 3 rounds each
            expect(plot.locator(".xtitle")).to_have_text("Step")
            for name in names:  # MLflow's legend, under the plot
                page.get_by_text(f"{name} (test_accuracy)").first.wait_for()
            page.screenshot(path=str(shots / "grid_curves.png"))
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=HANG) == 0
    assert (shots / "grid_charts.png").stat().st_size > 10_000


def test_ui_of_a_tracking_server_prints_the_servers_links_and_starts_nothing(tmp_path):
    """For a server the UI is the server: its links, exit 0, no second UI (an ``mlflow ui``
    with the server's URL as its backend store died and left its links dead)."""
    from helpers import MlflowServer, al4ml

    from al4ml.tracking import experiment_id

    server = MlflowServer(tmp_path)
    server.start()
    try:
        client = get_client(server.uri)
        eid = experiment_id(client, "served")
        run = client.create_run(eid, tags={"al4ml.role": "run"})
        client.log_metric(run.info.run_id, "test_accuracy", 0.5, step=20)
        proc = al4ml("ui", "--tracking-uri", server.uri, cwd=tmp_path)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    assert f"{server.uri} is a tracking server, and its UI" in proc.stdout
    assert f"  runs    {server.uri}/#/experiments/{eid}/runs" in proc.stdout
    assert f"  curves  {server.uri}/#/metric/test_accuracy" in proc.stdout
    away = al4ml("ui", "--tracking-uri", server.uri, cwd=tmp_path)
    lines = [ln for ln in away.stderr.splitlines() if ln.strip()]
    assert away.returncode == 2 and len(lines) == 1 and "does not answer" in lines[0], away.stderr
