"""Selection time of every registered strategy, side by side in one process.

Synthetic pools (512-d embeddings, 10 classes, 20 MC samples, 8 augmented views, 1,000
labeled items) of 10 k and 90 k items; each strategy picks k = 1,000. The inputs a strategy
declares are built lazily inside the timed region when they are derived from others (BADGE's
gradient embeddings), as in the loop. scikit-learn's ``kmeans_plusplus`` runs on the same
BADGE input for comparison (on a smaller case: it is a CPU implementation).

  python benchmarks/query_speed.py --device cuda
  python benchmarks/query_speed.py --device cpu --quick
"""

from __future__ import annotations

import time

import torch
from common import parser, sync  # first: puts the repository on sys.path for al4ml
from sklearn.cluster import kmeans_plusplus

from al4ml.query import STRATEGIES, run_strategy
from al4ml.query.diversity import gradient_embeddings
from al4ml.query.diversity import kmeans_plusplus as ours
from al4ml.query.modal import EmbeddingClassifier

CLASSES, DIM, MC, VIEWS, LABELED = 10, 512, 20, 8, 1000


def pool(n: int, device: torch.device, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, CLASSES, generator=g) * 3
    emb = torch.randn(n, DIM, generator=g).relu()
    head = torch.nn.Linear(DIM, CLASSES).to(device)
    tensors = {
        "probs": torch.softmax(logits, 1),
        "embeddings": emb,
        "labeled_embeddings": torch.randn(LABELED, DIM, generator=g).relu(),
        "mc_probs": torch.softmax(logits[:, None] + torch.randn(n, MC, CLASSES, generator=g), 2),
        "aug_probs": torch.softmax(logits[:, None] + torch.randn(n, VIEWS, CLASSES, generator=g), 2),
    }
    tensors = {k: v.to(device) for k, v in tensors.items()}
    return {
        "n": lambda: n,
        **{k: (lambda v=v: v) for k, v in tensors.items()},
        "grad_embeddings": lambda: gradient_embeddings(tensors["probs"], tensors["embeddings"]),
        "classifier": lambda: EmbeddingClassifier(head, tensors["labeled_embeddings"].cpu().numpy(), device),
    }


def timed(fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    ap = parser(__doc__, "small pools and k (CPU smoke run)")
    args = ap.parse_args()
    device = torch.device(args.device)
    sizes, k = ((2_000, 5_000), 100) if args.quick else ((10_000, 90_000), 1_000)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device: {name}; torch {torch.__version__}; k = {k}; {DIM}-d embeddings, {CLASSES} "
        f"classes, {MC} MC samples, {VIEWS} views, {LABELED} labeled",
        flush=True,
    )
    names = STRATEGIES.names()
    results: dict[tuple[str, int], float] = {}
    for n in sizes:
        inputs = pool(n, device)
        run_strategy("entropy", k, torch.Generator(device=device).manual_seed(0), inputs)  # warm-up
        for s in names:
            g = torch.Generator(device=device).manual_seed(0)
            results[s, n] = timed(lambda s=s, g=g, i=inputs: run_strategy(s, k, g, i), device)
            print(f"  {s:<18} N={n:>6,}  {results[s, n]:9.3f} s", flush=True)
        del inputs
        if device.type == "cuda":
            torch.cuda.empty_cache()

    n_sk, k_sk = (2_000, 100) if args.quick else (10_000, 100)
    inputs = pool(n_sk, device, seed=1)
    x = inputs["grad_embeddings"]()
    x_np = x.float().cpu().numpy()
    t_ours = timed(lambda: ours(x, k_sk, torch.Generator(device=device).manual_seed(0)), device)
    t_sk = timed(lambda: kmeans_plusplus(x_np, k_sk, random_state=0), torch.device("cpu"))

    print(f"\n{'strategy':<18}" + "".join(f"{f'N={n:,}':>14}" for n in sizes))
    for s in names:
        print(f"{s:<18}" + "".join(f"{results[s, n]:>13.3f}s" for n in sizes))
    print(f"\nk-means++ seeding on the same BADGE input (N={n_sk:,}, {x.shape[1]}-d, k={k_sk}):")
    print(
        f"  al4ml ({device.type}) {t_ours:8.3f} s   scikit-learn kmeans_plusplus (CPU) "
        f"{t_sk:8.3f} s   ratio sklearn/al4ml = {t_sk / t_ours:6.1f}x"
    )
    badge = results["badge", sizes[-1]]
    print(f"BADGE picks {k:,} of {sizes[-1]:,} in {badge:.2f} s")


if __name__ == "__main__":
    main()
