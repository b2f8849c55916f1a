"""What users wait for: one whole grid run three ways, side by side in one invocation.

  (1) processes: ``al4ml grid --cohort-size 1 --workers W``: every cell in its own process
  (2) cohorts:   ``al4ml grid --cohort-size auto``: compatible cells trained as stacked models
  (3) ideal:     the images the grid trains / the single-model big-batch training rate
                 measured in this run (no per-cell overhead at all)

Each way runs the real CLI on a fresh MLflow store and is timed from start to exit. Then,
for ``al4ml baseline`` of the base experiment, the training seconds with TrivialAugment
divided by those without (what augmentation costs in a real run, compilation included).

  python benchmarks/grid_throughput.py               # experiments/grid_breastmnist.yaml (GPU)
  python benchmarks/grid_throughput.py --quick       # an 8-cell digits grid, < 3 min on 2 cores

The BreastMNIST grid reads ``breastmnist.npz`` from ``--data`` (default ``../shared/data``
beside the checkout) or, where it is absent, from a synthetic file of the same size and
layout written to a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import fit_models, parser, sync  # first: puts the repository on sys.path for al4ml

from al4ml.augment import create_augmentation
from al4ml.config import ExperimentConfig
from al4ml.grid import load_grid
from al4ml.models import create_model
from al4ml.tracking import get_client

REPO = Path(__file__).resolve().parents[1]
QUICK = {
    "training.epochs": 5,
    "training.min_steps": 0,
    "budget.initial": 20,
    "budget.per_round": 20,
    "budget.total": 60,
    "model.options.width": 8,
}


def synthetic_breastmnist(folder: Path) -> Path:
    """A ``breastmnist.npz`` of the real one's size and layout (546/78/156, 1x28x28, 2 classes)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 546), ("val", 78), ("test", 156)):
        y = rng.integers(0, 2, n)
        base = rng.integers(40, 200, (n, 1, 1)) + 30 * y[:, None, None]
        arrays[f"{split}_images"] = np.clip(base + rng.normal(0, 25, (n, 28, 28)), 0, 255).astype(np.uint8)
        arrays[f"{split}_labels"] = y.reshape(-1, 1).astype(np.uint8)
    np.savez(folder / "breastmnist.npz", **arrays)
    return folder


def images_trained(cfg: ExperimentConfig, pool: int) -> int:
    """Images one cell trains on over its whole budget (epochs x labeled set, per round)."""
    b, t = cfg.budget, cfg.training
    total, n, out = min(b.total, pool), min(b.initial, pool), 0
    while True:
        n_batches = max(1, min(-(-n // t.batch_size), n // 2))
        out += n * max(t.epochs, -(-t.min_steps // n_batches))
        if n >= total:
            return out
        n = min(n + b.per_round, total)


def big_batch_rate(
    cfg: ExperimentConfig, channels: int, classes: int, device: torch.device, batch: int
) -> float:
    """Steady-state images/s of one model, no augmentation, at a large batch (al4ml's own path).

    The time of a 4-epoch fit minus that of a 1-epoch fit, after a warm-up fit: per-round
    fixed costs (optimiser set-up, CUDA graph capture) cancel.
    """
    n = 8 * batch
    x = torch.randint(0, 256, (n, channels, 28, 28), dtype=torch.uint8, device=device)
    y = torch.randint(0, classes, (n,), device=device)

    def timed(epochs: int) -> float:
        torch.manual_seed(0)
        model = create_model(cfg.model.name, channels, classes, **cfg.model.options).to(
            device, memory_format=torch.channels_last
        )
        tc = cfg.training.model_copy(update={"epochs": epochs, "batch_size": batch, "min_steps": 0})
        sync(device)
        start = time.perf_counter()
        fit_models([model], x, y, tc, [create_augmentation("none")], device)
        sync(device)
        return time.perf_counter() - start

    timed(1)
    return 3 * n / (timed(4) - timed(1))


def al4ml(*args: str) -> tuple[float, str]:
    """Run the CLI; wall seconds and its output (raises with the output if it fails)."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "al4ml.cli", *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"al4ml {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def baseline_seconds(uri: str, experiment: str) -> dict[str, float]:
    """``ceiling_train_seconds`` of each baseline run, by augmentation."""
    client = get_client(uri)
    exp = client.get_experiment_by_name(experiment)
    return {
        r.data.tags["augmentation"]: r.data.metrics["ceiling_train_seconds"]
        for r in client.search_runs([exp.experiment_id], "tags.`al4ml.role` = 'baseline'")
    }


def main() -> None:
    ap = parser(__doc__, "an 8-cell digits grid with a tiny CNN (CPU, < 3 min on 2 cores)")
    ap.add_argument("--grid", type=Path, default=REPO / "experiments" / "grid_breastmnist.yaml")
    ap.add_argument(
        "--data",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="folder with breastmnist.npz (else a synthetic one of the same size)",
    )
    ap.add_argument("--workers", type=int, default=None, help="processes of way (1) (default 8; --quick 2)")
    ap.add_argument("--big-batch", type=int, default=512, help="batch of the ideal's rate (--quick 128)")
    ap.add_argument(
        "--keep", type=Path, default=None, help="write the MLflow stores here (default: a temporary folder)"
    )
    ap.add_argument("--skip", default="", help="comma-separated ways to leave out: processes,baseline")
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every run (repeatable), e.g. --set training.epochs=10",
    )
    args = ap.parse_args()
    device = torch.device(args.device)
    quick = args.quick
    workers = args.workers or (2 if quick else 8)
    skip = set(filter(None, args.skip.split(",")))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="al4ml-grid-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    device_set = [] if device.type == "cuda" else [f"device={device.type}"]
    source = "digits"
    if quick:
        grid_file = folder / "grid_quick.yaml"
        grid_file.write_text(
            "name: grid_quick\nbase: " + str(REPO / "experiments" / "digits_quickstart.yaml") + "\n"
            "set: {" + ", ".join(f"{k}: {v}" for k, v in QUICK.items()) + "}\n"
            "axes:\n  query.strategy: [random, entropy]\n  augmentation.name: [none, trivialaugment]\n"
            "  seed: [0, 1]\n"
        )
        sets = device_set
        base_file = REPO / "experiments" / "digits_quickstart.yaml"
    else:
        grid_file = args.grid
        real = (args.data / "breastmnist.npz").is_file()
        data = args.data if real else synthetic_breastmnist(folder)
        source = "real breastmnist.npz" if real else "synthetic, BreastMNIST-sized"
        sets = [f"dataset.root={data.resolve()}", *device_set]
        base_file = (grid_file.parent / load_grid_base(grid_file)).resolve()
    sets += args.overrides
    grid = load_grid(grid_file, sets)
    from al4ml.experiment import load_dataset

    dataset = load_dataset(grid.cells[0].config)
    pool, info = dataset.pool_size, dataset.info
    work = sum(images_trained(c.config, pool) for c in grid.cells)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(
        f"device: {name}; torch {torch.__version__}; grid {grid.name}: {len(grid.cells)} cells, "
        f"{grid.cells[0].config.model.name}, pool {pool} ({source}); "
        f"{work:,} images trained in all",
        flush=True,
    )
    set_args = [a for s in sets for a in ("--set", s)]

    rows: dict[str, float] = {}
    if "processes" not in skip:
        seconds, _ = al4ml(
            "grid",
            str(grid_file),
            *set_args,
            "--cohort-size",
            "1",
            "--workers",
            str(workers),
            "--tracking-uri",
            f"sqlite:///{folder / 'processes.db'}",
        )
        rows[f"(1) processes: --cohort-size 1 --workers {workers}"] = seconds
        print(f"  (1) processes       {seconds:8.1f} s   {work / seconds:>10,.0f} img/s", flush=True)
    seconds, out = al4ml(
        "grid", str(grid_file), *set_args, "--tracking-uri", f"sqlite:///{folder / 'cohorts.db'}"
    )
    plan = next((line for line in out.splitlines() if "cohort(s)" in line), "").strip()
    rows["(2) cohorts: --cohort-size auto"] = seconds
    print(f"  (2) cohorts         {seconds:8.1f} s   {work / seconds:>10,.0f} img/s   [{plan}]", flush=True)
    batch = args.big_batch if not quick else min(args.big_batch, 128)
    rate = big_batch_rate(grid.cells[0].config, info.channels, info.num_classes, device, batch)
    ideal = work / rate
    rows["(3) ideal"] = ideal
    print(
        f"  (3) ideal           {ideal:8.1f} s   {rate:>10,.0f} img/s   (one model, batch {batch}, "
        "no augmentation, steady state)",
        flush=True,
    )
    print("\nratios")
    cohort = rows["(2) cohorts: --cohort-size auto"]
    for label, value in rows.items():
        if not label.startswith("(2)"):
            print(f"  {label:<45} / cohorts = {value / cohort:6.2f}")

    if "baseline" not in skip:
        uri = f"sqlite:///{folder / 'baselines.db'}"
        base_sets = [*set_args] + (["--set", "training.epochs=20"] if quick else [])
        wall = {}
        for aug in ("none", "trivialaugment"):
            wall[aug], _ = al4ml(
                "baseline",
                str(base_file),
                *base_sets,
                "--set",
                f"augmentation.name={aug}",
                "--set",
                "name=bench_baselines",
                "--tracking-uri",
                uri,
                "--no-progress",
            )
        train = baseline_seconds(uri, "bench_baselines")
        print(f"\nal4ml baseline {base_file.name} ({pool} images):")
        for aug in ("none", "trivialaugment"):
            print(f"  {aug:<15} training {train[aug]:7.2f} s   command {wall[aug]:7.2f} s")
        print(
            f"  trivialaugment / none: training {train['trivialaugment'] / train['none']:.2f}, "
            f"command {wall['trivialaugment'] / wall['none']:.2f}"
        )
    print(f"\nstores in {folder}")


def load_grid_base(grid_file: Path) -> str:
    """The ``base`` experiment a grid file names."""
    import yaml

    return yaml.safe_load(grid_file.read_text())["base"]


if __name__ == "__main__":
    main()
