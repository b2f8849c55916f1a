"""Where a cohort's training time goes: one round of K models, side by side in one process.

For each (K models, n labeled images each) it prints images/s of
  grouped   al4ml's cohort step: K stacked models (grouped convolutions), CohortAugment,
            one CUDA graph per round (``al4ml.train.fit``)
  grouped0  the same without augmentation
  streams0  K separate models, each step on its own CUDA stream, all captured in one CUDA
            graph (no augmentation): the alternative to grouped convolutions
  augment   CohortAugment alone on the K * batch images of one step
  single    one model at a large batch (the ideal's rate)

  python benchmarks/cohort_step.py                  # ResNet-18, 28 px, K in 9/27, n in 20/200
  python benchmarks/cohort_step.py --quick          # CPU smoke run (tiny CNN), < 1 min
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as tnf
from common import fit_models, parser, sync  # first: puts the repository on sys.path for al4ml

from al4ml.augment import create_augmentation
from al4ml.augment.policy import CohortAugment
from al4ml.config import TrainingConfig
from al4ml.models import create_model


def models(name: str, k: int, device: torch.device) -> list:
    return [create_model(name, 1, 2).to(device, memory_format=torch.channels_last) for _ in range(k)]


def grouped(name: str, k: int, n: int, aug: str, device: torch.device, epochs: int) -> float:
    """al4ml's cohort training path; steady state (an ``epochs`` fit after a warm-up fit)."""
    x = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, device=device)
    y = torch.randint(0, 2, (n,), device=device)
    ms = models(name, k, device)
    cfg = TrainingConfig(epochs=2, batch_size=128)
    fit_models(ms, x, y, cfg, [create_augmentation(aug)] * k, device)
    sync(device)
    start = time.perf_counter()
    fit_models(ms, x, y, cfg.model_copy(update={"epochs": epochs}), [create_augmentation(aug)] * k, device)
    sync(device)
    return k * n * epochs / (time.perf_counter() - start)


def streams(name: str, k: int, n: int, device: torch.device, reps: int) -> float:
    """K separate models, one CUDA stream each, captured together in one graph (no augmentation)."""
    b = n if n <= 128 else n // 2
    ms = models(name, k, device)
    opts = [
        torch.optim.Adam(m.parameters(), lr=torch.tensor(1e-3, device=device), fused=True, capturable=True)
        for m in ms
    ]
    xs = [
        torch.randn(b, 1, 28, 28, device=device).contiguous(memory_format=torch.channels_last)
        for _ in range(k)
    ]
    ys = torch.randint(0, 2, (k, b), device=device)
    side = [torch.cuda.Stream(device) for _ in range(k)]

    def step() -> None:
        cur = torch.cuda.current_stream(device)
        for i in range(k):
            side[i].wait_stream(cur)
            with torch.cuda.stream(side[i]):
                with torch.autocast("cuda", torch.bfloat16, cache_enabled=False):
                    loss = tnf.cross_entropy(ms[i](xs[i]), ys[i])
                loss.backward()
                opts[i].step()
        for s in side:
            cur.wait_stream(s)

    warm = torch.cuda.Stream(device)
    warm.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(warm):
        for _ in range(3):
            for o in opts:
                o.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream(device).wait_stream(warm)
    for o in opts:
        o.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    graph.replay()
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        graph.replay()
    sync(device)
    return k * b * reps / (time.perf_counter() - start)


def augment(k: int, n: int, device: torch.device, reps: int) -> float:
    """CohortAugment (TrivialAugment for every cell) on one step's K * batch images, eager."""
    b = n if n <= 128 else n // 2
    x = torch.randint(0, 256, (k * b, 1, 28, 28), dtype=torch.uint8, device=device)
    aug = CohortAugment(
        [create_augmentation("trivialaugment")] * k,
        [torch.Generator(device=device).manual_seed(i) for i in range(k)],
    )
    aug(x)
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        aug(x)
    sync(device)
    return k * b * reps / (time.perf_counter() - start)


def main() -> None:
    ap = parser(__doc__, "tiny CNN, K in 2/4, n 20 (CPU smoke run)")
    ap.add_argument("--model", default=None, help="model name (default resnet18; --quick tiny_cnn)")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    name = args.model or ("tiny_cnn" if args.quick else "resnet18")
    cases = [(2, 20), (4, 20)] if args.quick else [(9, 20), (27, 20), (9, 200), (27, 200)]
    epochs, reps = (2, 5) if args.quick else (20, 40)
    print(
        f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}; "
        f"torch {torch.__version__}; {name}, 1x28x28, batch min(n, 128) or n/2",
        flush=True,
    )
    rows: list[tuple[str, Callable[[int, int], float]]] = [
        ("grouped", lambda k, n: grouped(name, k, n, "trivialaugment", device, epochs)),
        ("grouped0", lambda k, n: grouped(name, k, n, "none", device, epochs)),
        ("augment", lambda k, n: augment(k, n, device, reps)),
    ]
    if device.type == "cuda":
        rows.append(("streams0", lambda k, n: streams(name, k, n, device, reps)))
    for k, n in cases:
        for label, fn in rows:
            try:
                print(f"  K={k:<3} n={n:<4} {label:<9} {fn(k, n):>12,.0f} img/s", flush=True)
            except Exception as e:  # one failing row must not lose the others on a GPU session
                print(f"  K={k:<3} n={n:<4} {label:<9} failed: {type(e).__name__}: {e}", flush=True)
    single = grouped(name, 1, 2048 if not args.quick else 256, "none", device, epochs)
    print(f"  single model, n={2048 if not args.quick else 256}, batch 128: {single:,.0f} img/s")


if __name__ == "__main__":
    main()
