"""The shipped notebooks run as people run them: executed by a Jupyter kernel, from the
notebooks folder or from the repository root, in a fresh copy of both (no store there yet)."""

import shutil
from pathlib import Path

import nbformat
import pytest
from helpers import HANG, REPO
from nbclient import NotebookClient

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def execute(notebook: Path, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb, timeout=HANG, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return nb


def images(nb: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in out.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )


@pytest.mark.parametrize("where", ["notebooks folder", "repository root"])
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_shows_its_plots_inline(notebook, where, tmp_path):
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    copy = repo / "notebooks" / notebook.name
    shutil.copy(notebook, copy)
    cwd = repo / "notebooks" if where == "notebooks folder" else repo
    nb = execute(copy, cwd)
    assert images(nb) >= 1
    created = [p for p in (cwd / "mlruns.db", cwd.parent / "mlruns.db") if p.exists()]
    assert created == [cwd / "mlruns.db"]  # one store, where the notebook said it would be
    from al4ml.tracking import get_client

    client = get_client(f"sqlite:///{cwd / 'mlruns.db'}")
    assert client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_no_al4ml_module_switches_the_matplotlib_backend_on_import():
    import subprocess
    import sys

    code = (
        "import matplotlib; before = matplotlib.get_backend()\n"
        "import al4ml.report, al4ml.tracking, al4ml.cli, al4ml.experiment, al4ml.grid\n"
        "print(before == matplotlib.get_backend())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"MPLBACKEND": "svg", "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout.strip() == "True", proc.stderr


def test_the_readme_notebook_command_runs_and_writes_nothing_into_the_repository(tmp_path):
    """The README's ``jupyter nbconvert`` command, as written, from a copy's root: it passes
    with the dev install, and leaves only git-ignored files behind."""
    import re
    import shlex
    import subprocess
    import sys

    readme = (REPO / "README.md").read_text()
    [command] = re.findall(r"`(jupyter nbconvert [^`]+)`", readme.replace("\n", " "))
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "notebooks", repo / "notebooks")
    shutil.copy(REPO / ".gitignore", repo / ".gitignore")
    before = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    jupyter = Path(sys.executable).with_name("jupyter")
    words = shlex.split(command)
    done = subprocess.run([str(jupyter), *words[1:]], cwd=repo, capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0, done.stderr[-3000:]
    new = sorted(p.relative_to(repo) for p in repo.rglob("*") if p.relative_to(repo) not in before)
    assert any(p.suffix == ".ipynb" and p.parts[0] == "out" for p in new), new
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    untracked = {line[3:] for line in status}
    assert untracked == {
        ".gitignore",
        *(str(p.relative_to(repo)) for p in (repo / "notebooks").glob("*.ipynb")),
    }, untracked
