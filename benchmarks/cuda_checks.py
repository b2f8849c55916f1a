"""CUDA checks for the GPU machine (CPU CI cannot run them): parity, sync-freedom, end to end.

1. Every augmentation policy on CUDA equals the CPU ops on the same per-sample draws
   (exact for exact ops, within one grey level otherwise).
2. Drawing and applying a policy on CUDA makes no host synchronisation (eager), checked
   with ``torch.cuda.set_sync_debug_mode("error")``.
3. Training with the step replayed from a CUDA graph (``training.cuda_graph``) follows eager
   training (same batches, same initial weights; losses and accuracy agree, the learning
   rate decays at the milestones), a replayed step with TrivialAugment inside the graph makes
   no host synchronisation, and a digits run with TrivialAugment trains through the graph
   (also with the model compiled, ``training.compile``: a new batch shape every round).
   A graphed cohort of four ResNet-18s (two with TrivialAugment, two without) trains each
   model as it trains alone, and its replays make no host synchronisation.
4. Active-learning runs on CUDA, logged to MLflow: digits with TrivialAugment (also with
   bf16 autocast off, two seeds, to compare with the CPU's curves) and every strategy,
   BreastMNIST (ResNet-18, the study's training setup) if its file is at --data.

  python benchmarks/cuda_checks.py [--data DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from common import fit_models, sync  # first: puts the repository on sys.path for al4ml

from al4ml.augment import AUGMENTATIONS, create_augmentation
from al4ml.augment.ops import OPS, apply_op
from al4ml.augment.policy import CohortAugment
from al4ml.config import TrainingConfig, build_config
from al4ml.device import Execution
from al4ml.experiment import run_experiment
from al4ml.infer import predict
from al4ml.models import create_model
from al4ml.models.stack import StackedClassifier
from al4ml.query import STRATEGIES
from al4ml.train import _GraphedStep, _optimizer

EXACT = {"identity", "posterize", "solarize", "invert", "equalize", "auto_contrast"}
RESULTS: list[tuple[str, bool, str]] = []


SELECTED: set[str] = set()


def check(name: str, tag: str):
    def deco(fn):
        if SELECTED and tag not in SELECTED:
            return fn
        start = time.perf_counter()
        try:
            detail = fn() or ""
            RESULTS.append((name, True, f"{detail} ({time.perf_counter() - start:.1f} s)"))
        except Exception as e:  # report and go on: one failing check must not hide the others
            traceback.print_exc()
            RESULTS.append((name, False, f"{type(e).__name__}: {e}"))
        print(f"[{'ok' if RESULTS[-1][1] else 'FAIL'}] {name}: {RESULTS[-1][2]}", flush=True)
        return fn

    return deco


def images(n: int, c: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(
        torch.rand(n, c, 7, 7, generator=g) * 255, size=(28, 28), mode="bilinear"
    )
    return (base + torch.randn(n, c, 28, 28, generator=g) * 20).clamp(0, 255).to(torch.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=None, help="folder with breastmnist.npz")
    ap.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp()))
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated: parity,sync,graph,compile,digits,precision,strategies,breast",
    )
    args = ap.parse_args()
    SELECTED.update(t for t in args.only.split(",") if t)
    cuda = torch.device("cuda")
    print(f"{torch.cuda.get_device_name(0)}; torch {torch.__version__}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{args.out / 'mlruns.db'}"

    @check("CUDA policies == CPU ops on the same draws", "parity")
    def _parity():
        worst = {}
        for name in AUGMENTATIONS.names():
            if name == "none":
                continue
            for c in (1, 3):
                policy = create_augmentation(name)
                x = images(512, c).to(cuda)
                stages = policy.stages(x, torch.Generator(device=cuda).manual_seed(1))
                out = policy(x, torch.Generator(device=cuda).manual_seed(1)).cpu()
                ref = x.cpu()
                for op, value in stages:
                    ref = apply_op(ref, op.cpu(), value.cpu())
                diff = (out.int() - ref.int()).abs()
                frac = float((diff <= 1).float().mean())
                worst[f"{name}/{c}ch"] = frac
                assert frac >= 0.99, (name, c, frac)
        for op_name in OPS:
            x = images(256, 3, seed=2).to(cuda)
            op = torch.full((256,), OPS.index(op_name), device=cuda)
            value = torch.linspace(0.1, 1.9, 256, device=cuda)
            if op_name in ("posterize",):
                value = torch.randint(0, 9, (256,), device=cuda).float()
            if op_name == "solarize":
                value = torch.linspace(0, 256, 256, device=cuda)
            gpu = apply_op(x, op, value).cpu()
            cpu = apply_op(x.cpu(), op.cpu(), value.cpu())
            if op_name in EXACT:
                assert torch.equal(gpu, cpu), op_name
        return f"min fraction within 1 level: {min(worst.values()):.4f}"

    @check("policies draw and apply without host synchronisation (eager CUDA)", "sync")
    def _sync_free():
        x = images(512, 3).to(cuda)
        for name in AUGMENTATIONS.names():
            aug = create_augmentation(name)
            g = torch.Generator(device=cuda).manual_seed(0)
            aug(x, g)  # warm-up: lazy tables move to the device once
            sync(cuda)
            torch.cuda.set_sync_debug_mode("error")
            try:
                aug(x, g)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return f"{len(AUGMENTATIONS.names())} policies"

    @check("CUDA-graph training follows eager training; replay makes no host sync", "graph")
    def _graph():
        x = images(2048, 3, seed=3).to(cuda)
        y = (x.float().mean((1, 2, 3)) > x.float().mean()).long() + 2 * (x[:, 0, 0, 0] > 127).long()
        out = {}
        for graph in (False, True):
            torch.manual_seed(0)
            model = create_model("resnet18", 3, 4).to(cuda, memory_format=torch.channels_last)
            tc = TrainingConfig(epochs=8, batch_size=256, lr=1e-3, cuda_graph=graph)
            res = fit_models([model], x, y, tc, [create_augmentation("none")], cuda)
            probs = predict(StackedClassifier([model]), x, Execution.of(cuda, tc)).probs[0]
            acc = float((probs.argmax(1) == y).float().mean())
            out[graph] = (res.train_loss[0], acc, res.steps)
        (le, ae, se), (lg, ag, sg) = out[False], out[True]
        assert se == sg == 8 * 8, (se, sg)
        assert abs(lg - le) <= 0.25 * le + 0.05 and abs(ag - ae) <= 0.1, out
        stack = StackedClassifier(
            [create_model("resnet18", 3, 4).to(cuda, memory_format=torch.channels_last) for _ in range(4)]
        )
        tc = TrainingConfig(lr=1e-3, cuda_graph=True)
        execution = Execution.of(cuda, tc)
        opt = _optimizer(stack, tc, execution)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[1], gamma=0.1)
        augment = CohortAugment(
            [create_augmentation(a) for a in ("trivialaugment", "none") * 2],
            [torch.Generator(device=cuda).manual_seed(i) for i in range(4)],
        )
        rows = torch.arange(len(x), device=cuda).expand(4, -1).contiguous()
        step = _GraphedStep(
            stack, stack, opt, x, rows, y.expand(4, -1).contiguous(), augment, execution, batch=(4, 256)
        )
        idx = torch.arange(256, device=cuda).expand(4, -1)
        for _ in range(step.WARMUP + 2):
            step(idx)
        sched.step()
        step.check_lr()
        assert abs(float(step.lr) - 1e-4) < 1e-9, float(step.lr)
        before = step.static_idx.clone()
        sync(cuda)
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(3):
                step(idx + 256)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert not torch.equal(before, step.static_idx)
        return f"eager loss {le:.4f} acc {ae:.3f}; graphed loss {lg:.4f} acc {ag:.3f}"

    @check("a graphed cohort of 4 trains each model as it trains alone", "graph")
    def _cohort():
        x = images(1024, 3, seed=4).to(cuda)
        y = (x.float().mean((1, 2, 3)) > x.float().mean()).long()
        augs = ("trivialaugment", "none", "randaugment", "none")
        tc = TrainingConfig(epochs=6, batch_size=128, lr=1e-3)

        def models():
            out = []
            for i in range(4):
                torch.manual_seed(i)
                out.append(create_model("resnet18", 3, 2).to(cuda, memory_format=torch.channels_last))
            return out

        together = models()
        res = fit_models(together, x, y, tc, [create_augmentation(a) for a in augs], cuda)
        alone = []
        for i, model in enumerate(models()):
            alone.append(
                fit_models([model], x, y, tc, [create_augmentation(augs[i])], cuda, seed=i).train_loss[0]
            )
        for a, b in zip(res.train_loss, alone, strict=True):
            assert abs(a - b) <= 0.25 * b + 0.05, (res.train_loss, alone)
        return f"cohort losses {[round(v, 4) for v in res.train_loss]}; alone {[round(v, 4) for v in alone]}"

    def cfg(**overrides):
        tree = {
            "name": "cuda-digits",
            "device": "cuda",
            "dataset": {"name": "digits"},
            "model": {"name": "tiny_cnn", "options": {"dropout": 0.3}},
            "training": {"epochs": 30, "batch_size": 32, "lr": 0.003},
            "augmentation": {"name": "trivialaugment"},
            "query": {"strategy": "entropy"},
            "budget": {"initial": 20, "per_round": 20, "total": 200},
        }
        return build_config(tree, [f"{k}={v}" for k, v in overrides.items()])

    @check("digits quickstart on CUDA with TrivialAugment, eager steps, logged to MLflow", "digits")
    def _digits():
        start = time.perf_counter()
        res = run_experiment(cfg(**{"training.cuda_graph": False}), uri, progress=False)
        acc = [r.metrics["test_accuracy"] for r in res.state.history]
        return f"test acc by round {[round(a, 3) for a in acc]}, {time.perf_counter() - start:.1f} s"

    @check("digits on CUDA with TrivialAugment and the CUDA-graph training step", "graph")
    def _digits_graph():
        start = time.perf_counter()
        res = run_experiment(cfg(**{"training.cuda_graph": True}), uri, progress=False)
        acc = [r.metrics["test_accuracy"] for r in res.state.history]
        return f"test acc by round {[round(a, 3) for a in acc]}, {time.perf_counter() - start:.1f} s"

    @check(
        "digits on CUDA with TrivialAugment, CUDA graph and compiled model (new shape each round)", "compile"
    )
    def _digits_compile():
        start = time.perf_counter()
        res = run_experiment(
            cfg(**{"training.cuda_graph": True, "training.compile": True}), uri, progress=False
        )
        acc = [r.metrics["test_accuracy"] for r in res.state.history]
        return f"test acc by round {[round(a, 3) for a in acc]}, {time.perf_counter() - start:.1f} s"

    @check("digits on CUDA with TrivialAugment: bf16 autocast vs fp32, two seeds", "precision")
    def _precision():
        rows = []
        for bf16 in (True, False):
            for seed in (0, 1):
                res = run_experiment(cfg(**{"training.bf16": bf16, "seed": seed}), uri, progress=False)
                acc = [round(r.metrics["test_accuracy"], 3) for r in res.state.history]
                rows.append(f"{'bf16' if bf16 else 'fp32'} seed {seed}: {acc}")
        return "; ".join(rows)

    @check("every strategy runs a CUDA cycle", "strategies")
    def _strategies():
        out = []
        for s in STRATEGIES.names():
            res = run_experiment(
                cfg(**{"query.strategy": s, "budget.total": 60, "training.epochs": 5}), uri, progress=False
            )
            out.append(f"{s}={res.state.history[-1].metrics['test_accuracy']:.2f}")
        return ", ".join(out)

    if args.data and (args.data / "breastmnist.npz").is_file():

        @check("BreastMNIST, ResNet-18, study setup (100 epochs), entropy, 20->200", "breast")
        def _breast():
            rows = []
            for aug in ("none", "trivialaugment", "randaugment"):
                start = time.perf_counter()
                c = build_config(
                    {
                        "name": "cuda-breastmnist",
                        "device": "cuda",
                        "dataset": {
                            "name": "medmnist",
                            "root": str(args.data),
                            "options": {"flag": "breastmnist"},
                        },
                        "model": {"name": "resnet18"},
                        "augmentation": {"name": aug},
                        "query": {"strategy": "entropy"},
                        "budget": {"initial": 20, "per_round": 20, "total": 200},
                    }
                )
                res = run_experiment(c, uri, progress=False)
                h = res.state.history
                rows.append(
                    f"{aug}: acc@200={h[-1].metrics['test_accuracy']:.3f} "
                    f"auc@200={h[-1].metrics['test_auc']:.3f} "
                    f"({time.perf_counter() - start:.0f} s)"
                )
            return "; ".join(rows)

    print("\nsummary")
    for name, ok, detail in RESULTS:
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
    sys.exit(0 if all(ok for _, ok, _ in RESULTS) else 1)


if __name__ == "__main__":
    main()
