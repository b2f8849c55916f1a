"""What an augmentation search costs a round: a searched round's seconds over a plain one's.

A plain round trains the round's model on the labeled set with a fixed policy. A searched
round (``augmentation.search``) first ranks the candidates on the labeled set alone, then
trains the same model with the chosen policy. For the ``grid`` method (candidates x folds
models) and ``density`` (one model per fold, candidates scored on augmented held-out folds),
with the search's models trained as one cohort (``stack: true``, the default) and one at a
time (``stack: false``), this prints the seconds of the search, of the plain round, and the
searched/plain ratio, on scikit-learn's digits (real images, no download).

  python benchmarks/search_cost.py --quick     # tiny CNN, 60 labels (about a minute on 2 cores)
  python benchmarks/search_cost.py             # tiny CNN at 200 labels; ResNet-18 on CUDA
"""

from __future__ import annotations

import time
import zlib

import torch
from common import parser, sync  # first: puts the repository on sys.path for al4ml

from al4ml.augment import create_augmentation
from al4ml.augment.policy import CohortAugment
from al4ml.config import SearchConfig, TrainingConfig
from al4ml.data import create_dataset
from al4ml.device import Execution
from al4ml.models import create_model
from al4ml.models.stack import StackedClassifier
from al4ml.search import search_policy
from al4ml.search.problem import SearchProblem
from al4ml.train import fit

SPACE = {"policies": [{"name": "none"}, {"name": "trivialaugment"}], "randaugment": {"n": [2], "m": [10, 30]}}


def new_model(name: str, device: torch.device, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model(name, 1, 10).to(device, memory_format=torch.channels_last)


def plain_round(
    name: str,
    pool: torch.Tensor,
    rows: torch.Tensor,
    labels: torch.Tensor,
    training: TrainingConfig,
    device: torch.device,
) -> float:
    """Seconds of one plain round: the round's model, trained with TrivialAugment."""
    stack = StackedClassifier([new_model(name, device, 0)]).to(device)
    augment = CohortAugment(
        [create_augmentation("trivialaugment")], [torch.Generator(device=device).manual_seed(0)]
    )
    sync(device)
    start = time.perf_counter()
    execution = Execution.of(device, training)
    fit(stack, pool, rows[None].to(device), labels[None].to(device), training, augment, execution)
    sync(device)
    return time.perf_counter() - start


def search_seconds(
    name: str,
    method: str,
    stack: bool,
    pool: torch.Tensor,
    rows: torch.Tensor,
    labels: torch.Tensor,
    training: TrainingConfig,
    folds: int,
    epochs: int,
    device: torch.device,
) -> tuple[float, int]:
    """Seconds of one search and the number of models it trained."""
    cfg = SearchConfig(**SPACE, method=method, folds=folds, epochs=epochs, stack=stack)
    problem = SearchProblem.of(
        cfg,
        training,
        pool=pool,
        rows=rows.to(device),
        labels=labels,
        execution=Execution.of(device, training),
        task=create_dataset("digits", None).info.label_task,
        new_model=lambda j: new_model(name, device, 100 + j),
        seed=lambda purpose, j: zlib.crc32(f"{purpose}/{j}".encode()),
    )
    sync(device)
    start = time.perf_counter()
    search_policy(cfg, problem)
    sync(device)
    models = len(cfg.candidates()) * folds if method == "grid" else folds
    return time.perf_counter() - start, models


def main() -> None:
    ap = parser(__doc__, "tiny CNN, 60 labels, 3 epochs (about a minute on 2 cores)")
    args = ap.parse_args()
    device = torch.device(args.device)
    data = create_dataset("digits", None)
    pool = data.pool_images.to(device)
    cases = [("tiny_cnn", 60, 3)] if args.quick else [("tiny_cnn", 200, 10)]
    if device.type == "cuda" and not args.quick:
        cases.append(("resnet18", 200, 10))
    print(
        f"{'model':<9} {'labels':>6} {'method':<8} {'models':>6} {'stacked s':>9} "
        f"{'one by one s':>12} {'plain s':>8} {'searched/plain':>22}"
    )
    for name, n, epochs in cases:
        rows = torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))[:n]
        labels = data._pool_labels[rows]
        training = TrainingConfig(epochs=epochs, min_steps=10 * epochs, batch_size=32, lr=0.003)
        plain_round(name, pool, rows, labels, training, device)  # warm-up
        plain = plain_round(name, pool, rows, labels, training, device)
        for method in ("grid", "density"):
            stacked, models = search_seconds(
                name, method, True, pool, rows, labels, training, 3, epochs, device
            )
            apart, _ = search_seconds(name, method, False, pool, rows, labels, training, 3, epochs, device)
            ratios = f"{(plain + stacked) / plain:.1f} / {(plain + apart) / plain:.1f}"
            print(
                f"{name:<9} {n:>6} {method:<8} {models:>6} {stacked:>9.2f} {apart:>12.2f} "
                f"{plain:>8.2f} {ratios:>22}"
            )
    print("searched/plain: (search + plain round) / plain round, stacked / one by one")


if __name__ == "__main__":
    main()
