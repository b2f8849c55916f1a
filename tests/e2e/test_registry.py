import os
import subprocess
from pathlib import Path

from helpers import QUICKSTART
from helpers import al4ml as run_al4ml

README_STRATEGY = '''from al4ml.query import register_strategy, select_topk


@register_strategy("smallest_max_logit", needs=("probs",))
def smallest_max(*, k, generator, probs):
    """Items whose top class probability is lowest."""
    return select_topk(-probs.max(dim=1).values, k, generator)
'''


def installed_plugin(folder: Path, body: str = README_STRATEGY, name: str = "al4ml_smallest") -> Path:
    """A package as ``pip install`` leaves it: the module and its dist-info with entry points."""
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(body)
    info = folder / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[al4ml.strategies]\nsmallest = {name}\n")
    return folder


def al4ml(*args: str, path: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``al4ml ARGS`` in a fresh interpreter that also finds the plugins under ``path``."""
    return run_al4ml(
        *args, cwd=cwd, env={"PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")])}
    )


def test_the_readme_strategy_as_an_installed_plugin_is_listed_validated_and_runs(tmp_path):
    path = installed_plugin(tmp_path / "site")
    listed = al4ml("list", "strategies", path=path, cwd=tmp_path)
    assert listed.returncode == 0 and "smallest_max_logit" in listed.stdout
    bad = al4ml(
        "show",
        str(QUICKSTART),
        "--set",
        "query.strategy=smallest_max_logit",
        "--set",
        "query.params.beta=1",
        path=path,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "unknown option 'beta' for strategy 'smallest_max_logit'" in bad.stderr
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    run = al4ml(
        "run",
        str(QUICKSTART),
        "--set",
        "query.strategy=smallest_max_logit",
        "--set",
        "budget.total=40",
        "--set",
        "training.min_steps=0",
        "--tracking-uri",
        uri,
        "--no-progress",
        path=path,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    from al4ml.tracking import get_client

    client = get_client(uri)
    [logged] = client.search_runs([client.get_experiment_by_name("digits_quickstart").experiment_id])
    assert logged.info.status == "FINISHED" and logged.info.run_name == "smallest_max_logit+none/s0"


def test_a_broken_plugin_is_one_warning_and_al4ml_still_works(tmp_path):
    path = installed_plugin(tmp_path / "site", body="raise ImportError('missing dependency foo')\n")
    listed = al4ml("list", "strategies", path=path, cwd=tmp_path)
    assert listed.returncode == 0 and "entropy" in listed.stdout
    warnings = [ln for ln in listed.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "'smallest'" in warnings[0] and "missing dependency foo" in warnings[0]
