"""docker/Dockerfile and docker/compose.yaml describe what the README and the CLI support."""

from __future__ import annotations

import yaml
from helpers import REPO

DOCKER = REPO / "docker"


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_docker_compose_accepts_the_file():
    import shutil
    import subprocess

    import pytest

    docker = shutil.which("docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True) if docker else None
    if probe is None or probe.returncode != 0:
        pytest.skip(
            "docker compose is not installed here (the compose file is checked with "
            "MLflow's and al4ml's own parsers above)"
        )
    done = subprocess.run(
        [docker, "compose", "-f", str(DOCKER / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
