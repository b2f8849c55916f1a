"""Training throughput with and without augmentation, side by side in one process.

Rows (same model: ResNet-18 with the 28 px stem, 3 channels; same number of images):
  (a) training, no augmentation, data resident on the device (al4ml.train.fit, one model)
  (b) training with each batched per-sample policy, data resident on the device
  on CUDA also (a) and (b) with the training step replayed from a CUDA graph, and with
  --compile (a) and the first policy with the graph and the model compiled (training.compile)
  (c) the reference study's pipeline: PIL images, per-image torchvision TrivialAugmentWide /
      RandAugment(2, 30), DataLoader with 0 workers and with all cores, fp32, batch 128
plus augmentation-only images/s per policy (batched, and per image with torchvision) and
pool-scoring (inference) images/s. Prints a table and the ratios (b)/(a) and (b)/(c).

  python benchmarks/augment_throughput.py --device cuda
  python benchmarks/augment_throughput.py --device cpu --quick     # < 2 min on 2 cores
"""

from __future__ import annotations

import math
import os
import re
import time
import traceback
from collections.abc import Callable

import torch
import torch.nn.functional as tnf
from common import fit_models, parser, sync  # first: puts the repository on sys.path
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from al4ml.augment import create_augmentation
from al4ml.config import TrainingConfig
from al4ml.device import Execution
from al4ml.infer import predict
from al4ml.models import create_model
from al4ml.models.stack import StackedClassifier

POLICIES = {
    "trivialaugment": {},
    "randaugment(2,30)": {"n": 2, "m": 30},
    "uniaugment": {},
    "deepaugment": {},
    "autoaugment(imagenet)": {"policy": "imagenet"},
    "trivialaugment(wide)": {"space": "wide"},
}


def registry_name(label: str) -> str:
    return label.split("(")[0]


def synthetic(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random 3-channel 28 px uint8 images and 10-class labels."""
    g = torch.Generator().manual_seed(seed)
    base = tnf.interpolate(torch.rand(n, 3, 7, 7, generator=g) * 255, size=(28, 28), mode="bilinear")
    x = (base + torch.randn(n, 3, 28, 28, generator=g) * 15).clamp(0, 255).to(torch.uint8)
    return x, torch.randint(0, 10, (n,), generator=g)


def train_resident(
    images: torch.Tensor,
    labels: torch.Tensor,
    augmentation: str,
    params: dict,
    batch: int,
    epochs: int,
    device: torch.device,
    cuda_graph: bool = False,
    compile_model: bool = False,
) -> float:
    """Steady-state images/s of al4ml's own training path (``al4ml.train.fit``).

    The time of a ``1 + epochs``-epoch fit minus that of a 1-epoch fit, after a warm-up fit
    (first-call compilation): per-round fixed costs (optimiser set-up, CUDA graph capture)
    cancel, as they do over the 100 epochs of a real round.
    """
    aug = create_augmentation(augmentation, **params)
    x, y = images.to(device), labels.to(device)

    def timed(n_epochs: int) -> float:
        model = create_model("resnet18", 3, 10).to(device, memory_format=torch.channels_last)
        cfg = TrainingConfig(
            epochs=n_epochs, batch_size=batch, lr=1e-3, cuda_graph=cuda_graph, compile=compile_model
        )
        sync(device)
        start = time.perf_counter()
        fit_models([model], x, y, cfg, [aug], device)
        sync(device)
        return time.perf_counter() - start

    timed(1)  # warm-up
    return epochs * len(x) / (timed(1 + epochs) - timed(1))


class PilDataset(Dataset):
    """The study's input pipeline: PIL image -> per-image policy -> tensor -> normalise."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, policy: v2.Transform) -> None:
        self.images = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]
        self.labels = labels.tolist()
        self.transform = v2.Compose(
            [
                policy,
                v2.PILToTensor(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize([0.5] * 3, [0.5] * 3),
            ]
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[i]), self.labels[i]


def train_pil(
    images: torch.Tensor,
    labels: torch.Tensor,
    policy: v2.Transform,
    workers: int,
    device: torch.device,
    epochs: int,
) -> float:
    """Images/s of the study's pipeline: fp32, batch 128, DataLoader feeding the device."""
    ds = PilDataset(images, labels, policy)
    loader = DataLoader(
        ds,
        batch_size=128,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    model = create_model("resnet18", 3, 10).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch() -> int:
        seen = 0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = tnf.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(x)
        return seen

    epoch()  # warm-up (worker start-up, cuDNN autotune)
    sync(device)
    start = time.perf_counter()
    seen = sum(epoch() for _ in range(epochs))
    sync(device)
    return seen / (time.perf_counter() - start)


def augment_only(images: torch.Tensor, label: str, batch: int, device: torch.device, repeats: int) -> float:
    aug = create_augmentation(registry_name(label), **POLICIES[label])
    x = images[:batch].to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    for _ in range(3):
        aug(x, gen)
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        aug(x, gen)
    sync(device)
    return repeats * len(x) / (time.perf_counter() - start)


def augment_only_pil(images: torch.Tensor, policy: v2.Transform, n: int) -> float:
    pil = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images[:n]]
    start = time.perf_counter()
    for img in pil:
        policy(img)
    return n / (time.perf_counter() - start)


def scoring(images: torch.Tensor, device: torch.device) -> float:
    model = StackedClassifier([create_model("resnet18", 3, 10).to(device, memory_format=torch.channels_last)])
    x = images.to(device)
    predict(model, x, Execution.of(device), 4096, embeddings=True)  # warm-up: every batch shape autotuned
    sync(device)
    start = time.perf_counter()
    predict(model, x, Execution.of(device), 4096, embeddings=True)
    sync(device)
    return len(x) / (time.perf_counter() - start)


def main() -> None:
    ap = parser(__doc__, "small sizes (CPU smoke run, < 2 min)")
    ap.add_argument("--batch-size", type=int, default=512, help="batch of the device-resident rows")
    ap.add_argument("--images", type=int, default=None, help="training images per epoch")
    ap.add_argument("--epochs", type=int, default=None, help="timed epochs per row")
    ap.add_argument("--policies", default=None, help=f"comma-separated subset of: {', '.join(POLICIES)}")
    ap.add_argument(
        "--ceiling-batch",
        type=int,
        default=2048,
        help="CUDA: also time no augmentation at this batch (0: skip)",
    )
    ap.add_argument(
        "--compile",
        action="store_true",
        help="CUDA: also time (a) and the first policy with the CUDA graph and the model "
        "compiled (training.compile; about a minute of compilation)",
    )
    ap.add_argument(
        "--study-epochs",
        type=int,
        default=None,
        help="timed epochs of the study rows (4,096 images each; default 3, --quick 1)",
    )
    ap.add_argument(
        "--study-workers",
        default="0,all",
        help="DataLoader workers of the study rows: comma-separated numbers or 'all'",
    )
    args = ap.parse_args()
    device = torch.device(args.device)
    quick = args.quick
    n = args.images or (96 if quick else 20_480)
    epochs = args.epochs or (1 if quick else 3)
    batch = min(args.batch_size, n // 2)
    policies = ["trivialaugment", "randaugment(2,30)"] if quick else list(POLICIES)
    if args.policies:
        policies = re.split(r",(?![^(]*\))", args.policies)  # commas outside parentheses
        unknown = [p for p in policies if p not in POLICIES]
        if unknown:
            ap.error(f"unknown policy {unknown[0]!r}; choose from: {', '.join(POLICIES)}")
    cores = os.cpu_count() or 1
    worker_counts = [cores if w == "all" else int(w) for w in args.study_workers.split(",")]
    torch.backends.cudnn.benchmark = True
    images, labels = synthetic(n)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({cores} cores)"
    print(
        f"device: {name}; torch {torch.__version__}; {n} images 3x28x28; ResNet-18; "
        f"resident batch {batch}; {epochs} timed epoch(s)",
        flush=True,
    )

    rows: list[tuple[str, float]] = []

    def row(label: str, measure: Callable[[], float]) -> float:
        """Measure and print one row; a failing row prints its error and the others go on."""
        try:
            value = measure()
        except Exception as e:  # one broken row must not lose the rest of a GPU session
            traceback.print_exc()
            print(f"  {label:<64} failed: {type(e).__name__}: {e}", flush=True)
            return math.nan
        rows.append((label, value))
        print(f"  {label:<64} {value:>12,.0f} img/s", flush=True)
        return value

    def resident(
        aug: str, batch_size: int = batch, cuda_graph: bool = False, compile_model: bool = False
    ) -> Callable[[], float]:
        return lambda: train_resident(
            images,
            labels,
            registry_name(aug),
            POLICIES.get(aug, {}),
            batch_size,
            epochs,
            device,
            cuda_graph,
            compile_model,
        )

    base = row("(a) train, no augmentation, resident", resident("none"))
    batched = {p: row(f"(b) train, {p}, resident batched", resident(p)) for p in policies}
    graphed: dict[str, float] = {}
    compiled: dict[str, float] = {}
    if device.type == "cuda":
        graphed["none"] = row(
            "(a) train, no augmentation, resident, CUDA graph", resident("none", cuda_graph=True)
        )
        for p in policies[:2]:
            graphed[p] = row(f"(b) train, {p}, resident batched, CUDA graph", resident(p, cuda_graph=True))
        if args.compile:
            for p in ["none", *policies[:1]]:
                what = "no augmentation" if p == "none" else f"{p}, resident batched"
                compiled[p] = row(
                    f"({'a' if p == 'none' else 'b'}) train, {what}, CUDA graph, compiled model",
                    resident(p, cuda_graph=True, compile_model=True),
                )
        if args.ceiling_batch and args.ceiling_batch <= n // 2:
            row(
                f"(a) train, no augmentation, resident, CUDA graph, batch {args.ceiling_batch}",
                resident("none", args.ceiling_batch, cuda_graph=True),
            )
    study = {
        p: t
        for p, t in (
            ("trivialaugment", v2.TrivialAugmentWide()),
            ("randaugment(2,30)", v2.RandAugment(num_ops=2, magnitude=30)),
        )
        if p in policies
    }
    pil: dict[tuple[str, int], float] = {}
    n_pil = min(n, 512 if quick else 4096)
    study_epochs = args.study_epochs or (1 if quick else 3)
    for p, policy in study.items():
        for workers in worker_counts:
            pil[p, workers] = row(
                f"(c) train, {p}, PIL per image, {workers} workers, fp32 b128",
                lambda policy=policy, workers=workers: train_pil(
                    images[:n_pil], labels[:n_pil], policy, workers, device, study_epochs
                ),
            )
    for p in policies:
        row(
            f"augment only, {p}, batched b{batch}",
            lambda p=p: augment_only(images, p, batch, device, 5 if quick else 50),
        )
    for p, policy in study.items():
        row(
            f"augment only, {p}, torchvision PIL per image",
            lambda policy=policy: augment_only_pil(images, policy, min(n, 2000)),
        )
    row("pool scoring (inference, no augmentation)", lambda: scoring(images, device))

    print("\nratios")
    variants = [("", batched, base)]
    if device.type == "cuda":
        variants += [
            (", CUDA graph", graphed, graphed.get("none")),
            (", graph+compile", compiled, compiled.get("none")),
        ]
    for label, train, ref in variants:
        for p in study:
            if p in train:
                print(
                    f"  {p + label:<30} (b)/(a) = {train[p] / ref:5.2f}"
                    + "".join(f"   (b)/(c, {w} workers) = {train[p] / pil[p, w]:7.1f}" for w in worker_counts)
                )


if __name__ == "__main__":
    main()
