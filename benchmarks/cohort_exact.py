"""What exact cohorts cost: K models apart (bit-identical to lone runs) vs stacked.

A cohort's K models either stack into one network (grouped convolutions, batched linear
layers) or run apart, one after the other, on their channel groups. Apart, a member computes
bit for bit what it computes alone, so a cell's numbers do not depend on its cohort; stacked,
its weights differ in the last bits. al4ml runs cohorts apart on CPU and stacked on CUDA
(``al4ml.device.Execution.exact_cohorts``). For each model and K this prints the seconds of one
training round (al4ml's ``fit``: augmentation, forward, backward, Adam) both ways and their
ratio, and whether the apart members equal lone runs exactly.

  python benchmarks/cohort_exact.py            # tiny CNN and ResNet-18, K = 4 and 8
  python benchmarks/cohort_exact.py --quick    # tiny CNN, K = 4 (seconds on 2 cores)
"""

from __future__ import annotations

import time

import torch
from common import parser, sync  # first: puts the repository on sys.path for al4ml

from al4ml.augment import create_augmentation
from al4ml.augment.policy import CohortAugment
from al4ml.config import TrainingConfig
from al4ml.device import Execution
from al4ml.models import create_model
from al4ml.models.stack import StackedClassifier
from al4ml.train import fit


def members(name: str, k: int, device: torch.device) -> list:
    out = []
    for i in range(k):
        torch.manual_seed(i)
        out.append(create_model(name, 1, 2).to(device, memory_format=torch.channels_last))
    return out


def round_seconds(
    name: str, k: int, n: int, exact: bool, device: torch.device, epochs: int
) -> tuple[float, StackedClassifier]:
    """One cohort round of ``epochs`` on ``n`` images per model, after a warm-up round."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=gen).to(device)
    y = torch.randint(0, 2, (k, n), generator=gen).to(device)
    rows = torch.arange(n, device=device).expand(k, n).contiguous()
    cfg = TrainingConfig(epochs=epochs, batch_size=32)
    seconds, stack = 0.0, None
    for _ in range(2):  # warm-up, then the timed round
        stack = StackedClassifier(members(name, k, device), exact=exact)
        augment = CohortAugment(
            [create_augmentation("trivialaugment")] * k,
            [torch.Generator(device=device).manual_seed(i) for i in range(k)],
        )
        sync(device)
        start = time.perf_counter()
        fit(stack, x, rows, y, cfg, augment, Execution.of(device, cfg))
        sync(device)
        seconds = time.perf_counter() - start
    return seconds, stack


def main() -> None:
    ap = parser(__doc__, "tiny CNN, K = 4, one small round")
    args = ap.parse_args()
    device = torch.device(args.device)
    cases = (
        [("tiny_cnn", 4, 64, 3)]
        if args.quick
        else [("tiny_cnn", 4, 200, 5), ("tiny_cnn", 8, 200, 5), ("resnet18", 4, 100, 2)]
    )
    print(
        f"{'model':<10} {'K':>2} {'n':>4}  {'stacked s':>9} {'apart s':>8} {'apart/stacked':>13}  "
        "apart == alone"
    )
    for name, k, n, epochs in cases:
        stacked, _ = round_seconds(name, k, n, False, device, epochs)
        apart, stack = round_seconds(name, k, n, True, device, epochs)
        _, alone = round_seconds(name, 1, n, False, device, epochs)
        same = all(torch.equal(stack.member_state(0)[p], t) for p, t in alone.member_state(0).items())
        print(
            f"{name:<10} {k:>2} {n:>4}  {stacked:>9.2f} {apart:>8.2f} {apart / stacked:>13.2f}  "
            f"{'yes' if same else 'NO'} (member 0)"
        )


if __name__ == "__main__":
    main()
