"""docker/Dockerfile and docker/compose.yaml describe what the README and the CLI support."""

from __future__ import annotations

import re
import shlex
from importlib.metadata import metadata

import yaml
from helpers import REPO

DOCKER = REPO / "docker"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), comments and continuations resolved."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    rows = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return [(row.split(None, 1)[0].upper(), row.split(None, 1)[1]) for row in rows]


def test_the_dockerfile_builds_on_cuda_pytorch_and_installs_as_the_readme_says():
    steps = instructions()
    args = {a.split("=")[0]: a.split("=", 1)[1] for op, a in steps if op == "ARG" and "=" in a}
    assert steps[1] == ("FROM", "${BASE}")
    image = args["BASE"]
    assert image.startswith("pytorch/pytorch:") and "cuda" in image and "runtime" in image
    copied = [shlex.split(a)[0] for op, a in steps if op == "COPY"]
    for path in copied:
        assert (REPO / path).exists(), path
    assert {"pyproject.toml", "al4ml", "experiments"} <= set(copied)
    # Dependencies are installed from the packaging files before the code is copied, so a
    # code change reuses that layer; al4ml itself is installed without them, not editable.
    installs = [(i, a) for i, (op, a) in enumerate(steps) if op == "RUN" and "pip install" in a]
    (deps_at, deps), (code_at, code) = installs
    first_code = min(i for i, (op, a) in enumerate(steps) if op == "COPY" and a.startswith("al4ml"))
    assert deps_at < first_code < code_at
    spec = re.search(r'"(\.\[[a-z,]+\])"', deps).group(1)
    readme = (REPO / "README.md").read_text()
    assert f'pip install -e "{spec}"' in readme, f"the README does not show pip install -e {spec!r}"
    extras = re.fullmatch(r"\.\[(.*)\]", spec).group(1).split(",")
    assert set(extras) <= set(metadata("al4ml").get_all("Provides-Extra"))
    assert "--no-deps ." in code and "-e" not in shlex.split(code)
    users = [a for op, a in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert dict(steps)["ENTRYPOINT"] == '["al4ml"]'


def test_the_docker_build_context_is_only_what_the_image_copies():
    """``.dockerignore`` lets through the copied paths and keeps out virtual environments,
    stores and the git history (a local .venv alone can be gigabytes)."""
    import fnmatch

    rules = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]

    def sent(path: str) -> bool:  # Docker's rule: the last matching pattern wins
        keep = True
        for rule in rules:
            negated = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negated
        return keep

    for op, a in instructions():
        if op == "COPY":
            assert sent(shlex.split(a)[0]), a
    for path in (".venv", ".git", "mlruns.db", "tests", "al4ml/__pycache__"):
        assert not sent(path), path


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_runs_a_grid_against_an_mlflow_server_on_postgresql():
    from mlflow.cli import server as mlflow_server

    spec = compose()
    services = spec["services"]
    assert {"db", "mlflow", "al4ml"} <= services.keys()
    db, mlflow, app = services["db"], services["mlflow"], services["al4ml"]
    assert db["image"].startswith("postgres:")
    env = db["environment"]

    args = mlflow["command"]
    ctx = mlflow_server.make_context("server", list(args[1:]))  # mlflow's own option parser
    backend = ctx.params["backend_store_uri"]
    assert re.fullmatch(
        rf"postgresql(\+psycopg)?://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@db:5432/"
        rf"{env['POSTGRES_DB']}",
        backend,
    ), backend
    assert ctx.params["serve_artifacts"]
    port = ctx.params["port"]
    assert f"{port}:{port}" in mlflow["ports"]
    artifacts = ctx.params["artifacts_destination"]
    assert any(v.split(":")[1] == artifacts for v in mlflow["volumes"])
    assert f"mlflow:{port}" in ctx.params["allowed_hosts"].split(",")
    assert mlflow["depends_on"]["db"]["condition"] == "service_healthy"

    assert "torch" not in (DOCKER / mlflow["build"]["dockerfile"]).read_text().split("FROM", 1)[1]
    assert app["environment"]["MLFLOW_TRACKING_URI"] == f"http://mlflow:{port}"
    assert app["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert app["build"]["dockerfile"] == "docker/Dockerfile"
    assert (DOCKER / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == (
        DOCKER / "Dockerfile"
    )

    named = {
        v.split(":")[0]
        for s in services.values()
        for v in s.get("volumes", [])
        if not v.startswith((".", "/", "${"))
    }
    assert named <= set(spec["volumes"])


def test_the_compose_grid_command_is_a_valid_al4ml_grid():
    from typer.main import get_command

    from al4ml.cli import app
    from al4ml.grid import load_grid

    command = compose()["services"]["al4ml"]["command"]
    group = get_command(app)
    ctx = group.make_context("al4ml", list(command))
    assert command[0] == "grid"
    params = group.get_command(ctx, "grid").make_context("grid", command[1:], parent=ctx).params
    assert params["workers"] >= 2
    grid = load_grid(REPO / params["grid_file"])  # the image's working directory is the repo's root
    assert len(grid.cells) > 1


def test_the_data_mount_is_where_the_configs_look():
    """The al4ml service mounts the data folder at medmnist's own folder (``~/.medmnist``) of
    the image's user, and the MedMNIST configs name no other root."""
    import re

    mounts = [
        v.rsplit(":", 2) if v.endswith(":ro") else v.rsplit(":", 1)
        for v in compose()["services"]["al4ml"]["volumes"]
    ]
    [target] = [m[1] for m in mounts if m[0].startswith("${AL4ML_DATA")]
    dockerfile = (DOCKER / "Dockerfile").read_text()
    [user] = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert "useradd --create-home" in dockerfile and target == f"/home/{user}/.medmnist"
    for path in sorted((REPO / "experiments").glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        if config.get("dataset", {}).get("name") == "medmnist":
            assert "root" not in config["dataset"], path.name
