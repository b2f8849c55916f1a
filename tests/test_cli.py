import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from al4ml.query import STRATEGIES
from al4ml.tracking import QUERIES_ARTIFACT, get_client

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "experiments" / "digits_quickstart.yaml"


def al4ml(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "al4ml.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_strategy_exits_2_naming_it_and_the_choices(tmp_path):
    proc = al4ml("run", str(QUICKSTART), "--set", "query.strategy=entropyy",
                 "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}")
    assert_one_line_error(proc, "entropyy", *STRATEGIES.names())
    assert not (tmp_path / "m.db").exists()


def test_unknown_config_key_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("  epochs: 30", "  epohcs: 30"))
    proc = al4ml("run", str(bad), "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}")
    assert_one_line_error(proc, "training.epohcs", "epochs")


def test_missing_data_file_exits_2_naming_the_path(tmp_path):
    proc = al4ml("run", str(REPO / "experiments" / "breastmnist.yaml"),
                 "--set", f"dataset.root={tmp_path}", "--tracking-uri",
                 f"sqlite:///{tmp_path / 'm.db'}")
    assert_one_line_error(proc, str(tmp_path / "breastmnist.npz"))


@pytest.mark.parametrize("command", [["report", "some-grid"], ["ui"]])
def test_reading_commands_refuse_a_missing_store_without_creating_it(tmp_path, command):
    uri = f"sqlite:///{tmp_path / 'typo.db'}"
    proc = al4ml(*command, "--tracking-uri", uri, cwd=tmp_path)
    assert_one_line_error(proc, uri, "no MLflow store")
    assert list(tmp_path.iterdir()) == []


def test_show_prints_the_resolved_config_without_running(tmp_path):
    import yaml

    from al4ml.config import load_config

    proc = al4ml("show", str(QUICKSTART), "--set", "training.epochs=3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    shown = yaml.safe_load(proc.stdout)
    assert shown == load_config(QUICKSTART, ["training.epochs=3"]).model_dump(mode="json")
    assert shown["training"]["epochs"] == 3 and "cuda_graph" in shown["training"]
    assert list(tmp_path.iterdir()) == []
    bad = al4ml("show", str(QUICKSTART), "--set", "training.epochs=0", cwd=tmp_path)
    assert_one_line_error(bad, "training.epochs")


def test_list_shows_every_registry():
    proc = al4ml("list")
    assert proc.returncode == 0
    for name in ("entropy", "trivialaugment", "randaugment", "digits", "medmnist", "resnet18"):
        assert name in proc.stdout
    proc = al4ml("list", "strategies")
    for entry in STRATEGIES.entries():
        line = next(ln for ln in proc.stdout.splitlines() if f" {entry.name} " in ln)
        assert entry.description and entry.description[:30] in line
    assert "trivialaugment" not in proc.stdout


def test_list_unknown_kind_exits_2():
    proc = al4ml("list", "optimizers")
    assert proc.returncode == 2 and "optimizers" in proc.stderr


def test_help_explains_the_commands():
    proc = al4ml("--help")
    assert proc.returncode == 0
    for command in ("run", "show", "grid", "report", "list", "ui"):
        assert command in proc.stdout
    assert "--set" in al4ml("run", "--help").stdout


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    proc = al4ml("run", str(QUICKSTART), "--tracking-uri", uri, "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    client = get_client(uri)
    exp = client.get_experiment_by_name("digits_quickstart")
    [run] = client.search_runs([exp.experiment_id])
    history = client.get_metric_history(run.info.run_id, "test_accuracy")
    assert [m.step for m in history] == list(range(20, 201, 20))
    assert history[-1].value >= 0.85
    path = client.download_artifacts(run.info.run_id, QUERIES_ARTIFACT, str(tmp_path))
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text())))
    indices = [int(r["pool_index"]) for r in rows]
    assert len(indices) == len(set(indices)) == 200 - 20
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "queries.csv", "model", "state"} <= artifacts
    assert "Learning curve" in proc.stdout


@pytest.mark.slow
def test_breastmnist_through_the_medmnist_package(shared_data, tmp_path):
    proc = al4ml("run", str(REPO / "experiments" / "breastmnist.yaml"),
                 "--set", f"dataset.root={shared_data}", "--set", "budget.total=60",
                 "--set", "training.epochs=2", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}",
                 "--no-progress")
    assert proc.returncode == 0, proc.stderr
    client = get_client(f"sqlite:///{tmp_path / 'm.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("breastmnist").experiment_id])
    assert run.data.tags["dataset"] == "breastmnist"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "test_auc")] == [20, 40, 60]
