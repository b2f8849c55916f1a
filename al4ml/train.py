"""Training, evaluation and pool scoring on device-resident tensors.

Data stays a uint8 tensor on the device for the whole round: batches are index slices of a
``randperm`` drawn on the device, augmentation runs on the batch on the device, and the
float conversion/normalisation happens per batch. CUDA runs under bf16 autocast with
channels-last tensors; CPU runs in fp32 and is deterministic for a seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as tnf
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
from torch import nn

from al4ml.augment import Augmentation
from al4ml.config import TrainingConfig

MEAN, STD = 0.5, 0.5
"""Input normalisation of the seed study: ``(x / 255 - 0.5) / 0.5``."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    from al4ml.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but no CUDA device is available; "
                          "choose from: auto, cpu")
    return torch.device(name)


def to_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` -> normalised float ``[B, C, H, W]`` (channels-last on CUDA)."""
    out = (x.to(torch.float32) * (1.0 / 255) - MEAN) / STD
    if x.is_cuda:
        out = out.contiguous(memory_format=torch.channels_last)
    return out


def _autocast(device: torch.device) -> torch.autocast:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=device.type == "cuda")


@dataclass(frozen=True)
class FitResult:
    """Outcome of one round of training."""

    train_loss: float
    seconds: float
    steps: int


def fit(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, cfg: TrainingConfig,
        augment: Augmentation, generator: torch.Generator, device: torch.device,
        on_epoch: Callable[[int, int], None] | None = None) -> FitResult:
    """Train ``model`` on the labeled set for ``cfg.epochs`` epochs.

    Args:
        model: A freshly initialised classifier on ``device``.
        images: uint8 ``[n, C, H, W]`` labeled images on ``device``.
        labels: int64 ``[n]`` their labels on ``device``.
        cfg: Optimiser and schedule (Adam, MultiStepLR at ``cfg.milestones`` of the epochs;
            at least ``cfg.min_steps`` optimiser steps).
        augment: Applied to every training batch (uint8 in, uint8 out) on ``device``.
        generator: Seeded generator on ``device``: batch order and augmentation draws.
        device: Where to train.
        on_epoch: Called with ``(epoch, epochs)`` after each epoch (progress display).

    Returns:
        Mean training loss of the last epoch, wall time and optimiser steps.
    """
    start = time.perf_counter()
    n = len(images)
    # Even-sized batches (sizes differ by at most one): no trailing batch of one for BatchNorm.
    n_batches = max(1, min(-(-n // cfg.batch_size), n // 2))
    epochs = max(cfg.epochs, -(-cfg.min_steps // n_batches))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    milestones = sorted({max(1, int(m * epochs)) for m in cfg.milestones})
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=cfg.gamma)
    model.train()
    steps = 0
    epoch_loss = torch.zeros((), device=device)
    for epoch in range(epochs):
        epoch_loss = torch.zeros((), device=device)
        perm = torch.randperm(n, generator=generator, device=device)
        for idx in torch.tensor_split(perm, n_batches):
            x = to_input(augment(images[idx], generator))
            with _autocast(device):
                loss = tnf.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            epoch_loss += loss.detach().float() * len(idx)
            steps += 1
        sched.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, epochs)
    return FitResult(float(epoch_loss) / n, time.perf_counter() - start, steps)


@dataclass(frozen=True)
class Predictions:
    """Pool scores: ``probs [N, C]``, optional ``embeddings [N, D]`` (both float32, on device)."""

    probs: torch.Tensor
    embeddings: torch.Tensor | None = None


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int = 4096,
            embeddings: bool = False) -> Predictions:
    """Score images without augmentation, in large batches, in eval mode.

    Args:
        model: A :class:`~al4ml.models.Classifier`.
        images: uint8 ``[N, C, H, W]`` (any device; moved batch-wise to ``device``).
        device: Where to run.
        batch_size: Images per forward pass.
        embeddings: Also return penultimate embeddings.
    """
    model.eval()
    probs, embs = [], []
    for start in range(0, len(images), batch_size):
        x = to_input(images[start:start + batch_size].to(device, non_blocking=True))
        with _autocast(device):
            logits, emb = model.forward_with_embedding(x)
        probs.append(torch.softmax(logits.float(), dim=1))
        if embeddings:
            embs.append(emb.float())
    return Predictions(torch.cat(probs), torch.cat(embs) if embeddings else None)


@torch.inference_mode()
def mc_dropout_probs(model: nn.Module, embeddings: torch.Tensor, samples: int,
                     generator: torch.Generator) -> torch.Tensor:
    """MC-dropout probabilities ``[N, K, C]`` from pool embeddings ``[N, D]``.

    Dropout sits only in front of the classifier head, so the trunk runs once (in eval mode,
    BatchNorm frozen) and the K stochastic passes are K dropout masks, drawn from
    ``generator``, through the head.
    """
    p = float(model.dropout.p)
    out = []
    for _ in range(samples):
        keep = torch.rand(embeddings.shape, generator=generator, device=generator.device)
        keep = (keep.to(embeddings.device) >= p).to(embeddings.dtype) / (1.0 - p)
        out.append(torch.softmax(model.head(embeddings * keep).float(), dim=1))
    return torch.stack(out, dim=1)


@torch.inference_mode()
def augmented_probs(model: nn.Module, images: torch.Tensor, augment: Augmentation, views: int,
                    generator: torch.Generator, device: torch.device, batch_size: int = 4096
                    ) -> torch.Tensor:
    """Probabilities ``[N, K, C]`` of K augmented views of each image (training policy)."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)
        per_view = []
        for _ in range(views):
            with _autocast(device):
                per_view.append(torch.softmax(model(to_input(augment(x, generator))).float(), 1))
        out.append(torch.stack(per_view, dim=1))
    return torch.cat(out)


@dataclass(frozen=True)
class EvalMetrics:
    """Evaluation metrics of one split (``auc`` as ``medmnist.Evaluator`` computes it)."""

    accuracy: float
    balanced_accuracy: float
    auc: float
    loss: float


def auc_score(y: np.ndarray, probs: np.ndarray) -> float:
    """Binary: ROC AUC of the positive class; multi-class: mean one-vs-rest AUC (MedMNIST)."""
    if probs.shape[1] == 2:
        return float(roc_auc_score(y, probs[:, 1])) if len(np.unique(y)) == 2 else float("nan")
    scores = [roc_auc_score(y == c, probs[:, c]) for c in range(probs.shape[1])
              if 0 < (y == c).sum() < len(y)]
    return float(np.mean(scores)) if scores else float("nan")


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device,
             batch_size: int = 4096) -> EvalMetrics:
    """Accuracy, balanced accuracy, AUC and cross-entropy of ``model`` on a labeled split."""
    probs = predict(model, images, device, batch_size).probs.cpu()
    y = labels.cpu()
    loss = float(tnf.nll_loss(torch.log(probs.clamp_min(1e-12)), y))
    pred = probs.argmax(1).numpy()
    yn = y.numpy()
    return EvalMetrics(float(accuracy_score(yn, pred)), float(balanced_accuracy_score(yn, pred)),
                       auc_score(yn, probs.numpy()), loss)
