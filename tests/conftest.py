"""Shared fixtures: real data paths, small configs, a temporary MLflow store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from al4ml.config import ExperimentConfig, build_config

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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
    from servers import MlflowServer, Postgres

    db = Postgres()
    db.start()
    server = MlflowServer(tmp_path_factory.mktemp("postgres-mlflow"), backend_uri=db.uri)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        db.stop()


def tiny_config(**overrides: object) -> ExperimentConfig:
    """A digits config that runs a few rounds in a couple of seconds on CPU."""
    tree = {
        "name": "test",
        "seed": 0,
        "device": "cpu",
        "dataset": {"name": "digits"},
        "model": {"name": "tiny_cnn", "options": {"width": 8}},
        "training": {"epochs": 3, "batch_size": 32, "lr": 0.003},
        "augmentation": {"name": "none"},
        "query": {"strategy": "entropy"},
        "budget": {"initial": 10, "per_round": 10, "total": 40},
    }
    return build_config(tree, [f"{k}={v}" for k, v in overrides.items()])


@pytest.fixture
def tiny_cfg() -> ExperimentConfig:
    """See :func:`tiny_config`."""
    return tiny_config()


def write_medmnist_npz(
    path: Path, n: tuple[int, int, int] = (40, 10, 12), channels: int = 1, classes: int = 2, seed: int = 0
) -> None:
    """Write a small .npz in the official MedMNIST layout (uint8 images, [N, 1] labels)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        shape = (count, 28, 28) if channels == 1 else (count, 28, 28, 3)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count) % classes).reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)


def write_multilabel_npz(
    path: Path, n: tuple[int, int, int] = (80, 30, 40), findings: int = 14, seed: int = 0
) -> None:
    """Write a small ChestMNIST-shaped .npz (official layout: 28 px grey, ``[N, 14]`` 0/1 labels).

    Learnable on purpose: finding ``j`` brightens its own 7 x 7 patch of a 4 x 4 grid, so a
    tiny model can beat chance; every finding is present and absent in every split (its AUC
    is defined, as ``medmnist.Evaluator`` needs).
    """
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        labels = (rng.random((count, findings)) < 0.3).astype(np.uint8)
        labels[0], labels[1] = 0, 1
        images = rng.integers(0, 90, (count, 28, 28)).astype(np.int64)
        for j in range(findings):
            r, c = divmod(j, 4)
            images[:, 7 * r : 7 * r + 7, 7 * c : 7 * c + 7] += 150 * labels[:, j, None, None]
        arrays[f"{split}_images"] = images.clip(0, 255).astype(np.uint8)
        arrays[f"{split}_labels"] = labels
    np.savez(path, **arrays)
