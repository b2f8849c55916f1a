import subprocess
import sys


def test_importing_al4ml_is_light_and_exposes_the_api():
    code = (
        "import sys, al4ml\n"
        "assert 'torch' not in sys.modules and 'mlflow' not in sys.modules\n"
        "from al4ml import load_config, run_experiment, run_grid, write_report\n"
        "print(load_config.__module__, run_experiment.__module__, run_grid.__module__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["al4ml.config.load", "al4ml.experiment", "al4ml.grid"]


def test_the_readme_api_example_runs(tmp_path, monkeypatch):
    import yaml
    from helpers import REPO

    import al4ml

    monkeypatch.chdir(tmp_path)
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        yaml.safe_dump(
            {
                "name": "api",
                "base": str(REPO / "experiments" / "digits_quickstart.yaml"),
                "set": {
                    "training.epochs": 1,
                    "training.min_steps": 0,
                    "budget.total": 40,
                    "model.options.width": 4,
                },
                "axes": {"query.strategy": ["random", "entropy"], "seed": [0, 1]},
            }
        )
    )
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = al4ml.load_config(
        REPO / "experiments" / "digits_quickstart.yaml", ["budget.total=40", "training.min_steps=0"]
    )
    run = al4ml.run_experiment(cfg, uri, progress=False)
    assert [r.n_labeled for r in run.state.history] == [20, 40]
    result = al4ml.run_grid(grid, tracking_uri=uri, workers=1)
    assert len(result.statuses) == 4 and not result.failed
    md = al4ml.write_report(result.parent_run_id, out=tmp_path / "report", tracking_uri=uri)
    assert md.is_file() and (tmp_path / "report" / "summary.json").is_file()


def test_the_report_api_and_the_report_package_do_not_collide(tmp_path):
    code = (
        "import al4ml, types\n"
        "from al4ml.report import build_report\n"
        "from al4ml import write_report\n"
        "import al4ml.report as module\n"
        "assert module.build_report is build_report and type(module) is types.ModuleType\n"
        "assert al4ml.report is module\n"
        "from al4ml.errors import Al4mlError\n"
        f"try:\n    write_report('no-such-experiment', out={str(tmp_path / 'r')!r},"
        f" tracking_uri={'sqlite:///' + str(tmp_path / 'm.db')!r})\n"
        "except Al4mlError as e:\n    print(type(e).__name__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("Error")
