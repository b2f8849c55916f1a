"""What every benchmark script shares: its command line and device synchronisation.

Importing this module also puts the repository root on ``sys.path``, so the scripts run
from a checkout without installing al4ml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parser(doc: str | None, quick_help: str) -> argparse.ArgumentParser:
    """An argument parser with ``--device`` (CUDA when available) and ``--quick``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help=quick_help)
    return ap


def sync(device: torch.device) -> None:
    """Wait for the device, so that wall-clock timings cover the queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def fit_models(
    models: list,
    images: torch.Tensor,
    labels: torch.Tensor,
    cfg: object,
    augmentations: list,
    device: torch.device,
    seed: int = 0,
) -> object:
    """Train ``models`` as one cohort on the same device-resident ``images`` (al4ml's path).

    Each model sees every image (its own batch order and augmentation draws from its own
    generator); returns :class:`al4ml.train.FitResult`. The models receive the weights.
    """
    from al4ml.augment.policy import CohortAugment
    from al4ml.device import Execution
    from al4ml.models.stack import StackedClassifier
    from al4ml.train import fit

    stack = StackedClassifier(models)
    k, n = len(models), len(images)
    rows = torch.arange(n, device=device).expand(k, n).contiguous()
    gens = [torch.Generator(device=device).manual_seed(seed + i) for i in range(k)]
    result = fit(
        stack,
        images,
        rows,
        labels.to(device).expand(k, n).contiguous(),
        cfg,
        CohortAugment(augmentations, gens),
        Execution.of(device, cfg),
    )
    for i, model in enumerate(models):
        stack.member(i, model)
    return result
