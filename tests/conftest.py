"""Shared fixtures: real data paths, a temporary MLflow store, a PostgreSQL-backed server.

``tests/unit`` runs in the test process; ``tests/e2e`` starts processes, servers and a
browser and is marked ``slow`` here. Test processes run one per core (pytest-xdist, a module
per worker so that module fixtures are built once), one torch thread each. Helpers the tests
import (paths, small configs and files, the CLI in subprocesses, servers) live in
``helpers.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import SHARED_DATA, MlflowServer, Postgres, tiny_config

from al4ml.config import ExperimentConfig

# One torch thread per test process and every process it starts (a grid's workers share what
# this allows): the suite runs one test process per core (pytest-xdist), and torch threads
# that outnumber the cores wait on one another, which made runs twice as slow on a busy machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def shared_data() -> Path:
    """The folder holding the real breastmnist.npz; skips when ../shared is absent."""
    if not (SHARED_DATA / "breastmnist.npz").is_file():
        pytest.skip(
            f"real MedMNIST file not available: {SHARED_DATA / 'breastmnist.npz'} "
            "(../shared is not beside this checkout)"
        )
    return SHARED_DATA


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A fresh sqlite MLflow store in a temp dir."""
    return f"sqlite:///{tmp_path / 'mlruns.db'}"


@pytest.fixture(scope="session")
def postgres_mlflow(tmp_path_factory: pytest.TempPathFactory):
    """A real ``mlflow server`` on a throwaway PostgreSQL cluster, shared by the tests that
    need that topology (each uses experiments of its own); skipped with the reason when
    psycopg or PostgreSQL is missing."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'al4ml[server]')")
    db = Postgres()
    db.start()
    server = MlflowServer(tmp_path_factory.mktemp("postgres-mlflow"), backend_uri=db.uri)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        db.stop()


@pytest.fixture
def tiny_cfg() -> ExperimentConfig:
    """See :func:`helpers.tiny_config`."""
    return tiny_config()


E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under ``tests/e2e`` (subprocesses, servers, a browser, whole runs) is
    ``slow``: ``-m "not slow"`` is the unit suite."""
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def inverting_policy():
    """A plugin policy that inverts every image (255 - x): on the brightness set it turns each
    class into the other, the label-destroying candidate a search must never pick."""
    import torch

    from al4ml.augment import AUGMENTATIONS, register_augmentation
    from al4ml.augment.ops import OP_INDEX
    from al4ml.augment.policy import Policy

    @register_augmentation("test_invert")
    def test_invert() -> Policy:
        """Invert every image."""
        return Policy(
            "test_invert",
            lambda b, h, w, g, d: [
                (torch.full((b,), OP_INDEX["invert"], device=d), torch.zeros(b, device=d))
            ],
        )

    yield {"name": "test_invert"}
    AUGMENTATIONS._entries.pop("test_invert")


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory):
    """One small run logged to a fresh store: its URI, config and result."""
    from al4ml.experiment import run_experiment

    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'm.db'}"
    cfg = tiny_config(**{"query.strategy": "margin", "augmentation.name": "randaugment"})
    result = run_experiment(cfg, uri, progress=False)
    return uri, cfg, result
