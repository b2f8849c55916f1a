"""docker/Dockerfile and docker/compose.yaml describe what the README and the CLI support."""

from __future__ import annotations

import re
import shlex
from importlib.metadata import metadata

import yaml
from conftest import REPO

DOCKER = REPO / "docker"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), comments and continuations resolved."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    rows = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return [(row.split(None, 1)[0].upper(), row.split(None, 1)[1]) for row in rows]


def test_the_dockerfile_builds_on_cuda_pytorch_and_installs_as_the_readme_says():
    steps = instructions()
    assert steps[0][0] == "FROM"
    image = steps[0][1]
    assert image.startswith("pytorch/pytorch:") and "cuda" in image and "runtime" in image
    copied = [shlex.split(args)[0] for op, args in steps if op == "COPY"]
    for path in copied:
        assert (REPO / path).exists(), path
    assert {"pyproject.toml", "al4ml", "experiments"} <= set(copied)
    [install] = [args for op, args in steps if op == "RUN" and "pip install" in args]
    words = shlex.split(install)
    spec = words[words.index("-e") + 1]
    readme = (REPO / "README.md").read_text()
    assert f'pip install -e "{spec}"' in readme, f"the README does not show pip install -e {spec!r}"
    extras = re.fullmatch(r"\.\[(.*)\]", spec).group(1).split(",")
    assert set(extras) <= set(metadata("al4ml").get_all("Provides-Extra"))
    assert dict(steps)["ENTRYPOINT"] == '["al4ml"]'


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
        rf"{env['POSTGRES_DB']}", backend), backend
    assert ctx.params["serve_artifacts"]
    port = ctx.params["port"]
    assert f"{port}:{port}" in mlflow["ports"]
    artifacts = ctx.params["artifacts_destination"]
    assert any(v.split(":")[1] == artifacts for v in mlflow["volumes"])
    assert f"mlflow:{port}" in ctx.params["allowed_hosts"].split(",")
    assert mlflow["depends_on"]["db"]["condition"] == "service_healthy"

    assert app["environment"]["MLFLOW_TRACKING_URI"] == f"http://mlflow:{port}"
    assert app["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert app["build"]["dockerfile"] == "docker/Dockerfile"
    assert (DOCKER / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == (
        DOCKER / "Dockerfile")

    named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])
             if not v.startswith((".", "/"))}
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
