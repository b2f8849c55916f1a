"""Training and scoring speed of contiguous (NCHW) vs channels-last tensors, side by side.

al4ml keeps images and weights channels-last on every device; this shows what that buys on
the machine at hand, for the quickstart's CNN and for ResNet-18 at 28 px: medians of
interleaved repeats.

  python benchmarks/memory_format.py [--device cpu|cuda] [--quick]
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as tnf
from common import parser, sync  # first: puts the repository on sys.path for al4ml

from al4ml.models import create_model

LAYOUTS = {"contiguous (NCHW)": torch.contiguous_format, "channels-last": torch.channels_last}


class Case:
    """One model in one memory layout, with its optimiser and fixed batches."""

    def __init__(
        self,
        name: str,
        channels: int,
        layout: torch.memory_format,
        batch: int,
        device: torch.device,
        **options: int,
    ) -> None:
        torch.manual_seed(0)
        self.device = device
        self.model = create_model(name, channels, 10, **options).to(device, memory_format=layout)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.x = torch.randn(batch, channels, 28, 28, device=device).contiguous(memory_format=layout)
        self.y = torch.randint(0, 10, (batch,), device=device)
        self.pool = torch.randn(4 * batch, channels, 28, 28, device=device).contiguous(memory_format=layout)
        self.train(3)
        self.score(1)

    def train(self, steps: int) -> float:
        """Training images/s over ``steps`` optimiser steps."""
        self.model.train()
        sync(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            self.opt.zero_grad(set_to_none=True)
            tnf.cross_entropy(self.model(self.x), self.y).backward()
            self.opt.step()
        sync(self.device)
        return steps * len(self.x) / (time.perf_counter() - start)

    def score(self, repeats: int) -> float:
        """Inference images/s (eval mode) over ``repeats`` passes of the pool batch."""
        self.model.eval()
        with torch.inference_mode():
            sync(self.device)
            start = time.perf_counter()
            for _ in range(repeats):
                self.model(self.pool)
            sync(self.device)
        return repeats * len(self.pool) / (time.perf_counter() - start)


def main() -> None:
    ap = parser(__doc__, "fewer steps (a few seconds per row)")
    args = ap.parse_args()
    device = torch.device(args.device)
    cpu = device.type == "cpu"
    cases = [("tiny_cnn", 1, 32, {"width": 16}), ("resnet18", 3, 32 if cpu else 512, {})]
    print(f"device: {device}; torch {torch.__version__}; threads {torch.get_num_threads()}")
    repeats = 3 if args.quick else 5
    for name, channels, batch, options in cases:
        steps = (2 if args.quick else 5) if name == "resnet18" and cpu else (10 if args.quick else 40)
        cases_by_layout = {
            label: Case(name, channels, layout, batch, device, **options) for label, layout in LAYOUTS.items()
        }
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in LAYOUTS}
        for _ in range(repeats):  # interleaved, so drifting machine load hits both layouts
            for label, case in cases_by_layout.items():
                samples[label].append((case.train(steps), case.score(2)))
        rates = {
            label: (statistics.median(t for t, _ in v), statistics.median(s for _, s in v))
            for label, v in samples.items()
        }
        for label, (train, score) in rates.items():
            print(f"  {name:<9} {label:<18} train {train:>9,.0f} img/s   scoring {score:>9,.0f} img/s")
        (t0, s0), (t1, s1) = rates.values()
        print(f"  {name:<9} channels-last / NCHW: train {t1 / t0:.2f}x, scoring {s1 / s0:.2f}x")


if __name__ == "__main__":
    main()
