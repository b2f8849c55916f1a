"""Inference without augmentation: pool scoring, evaluation metrics, MC dropout, augmented views.

A cohort's K models score the pool and the evaluation splits together (one stacked
forward per batch, ``[K, N, C]`` probabilities); the extra passes some strategies need run
on one member model at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as tnf
from scipy.stats import rankdata
from torch import nn

from al4ml.augment import Augmentation
from al4ml.device import autocast, to_input
from al4ml.models.stack import StackedClassifier


@dataclass(frozen=True)
class Predictions:
    """Scores of K models: ``probs [K, N, C]``, optional ``embeddings [K, N, D]`` (float32)."""

    probs: torch.Tensor
    embeddings: torch.Tensor | None = None


@torch.inference_mode()
def predict(net: StackedClassifier, images: torch.Tensor, device: torch.device,
            batch_size: int = 4096, embeddings: bool = False, bf16: bool = True) -> Predictions:
    """Score images with every model of ``net``, in eval mode, never augmented.

    Args:
        net: The cohort's stacked models.
        images: uint8 ``[N, C, H, W]`` (any device; moved batch-wise to ``device``).
        device: Where to run.
        batch_size: Images times models per forward pass (memory stays that of one model
            scoring ``batch_size`` images, whatever K).
        embeddings: Also return penultimate embeddings.
        bf16: bf16 autocast on CUDA.
    """
    net.eval()
    chunk = max(1, batch_size // net.k)
    probs, embs = [], []
    for start in range(0, len(images), chunk):
        x = to_input(net.shared(images[start:start + chunk].to(device, non_blocking=True)))
        with autocast(device, bf16):
            logits, emb = net.forward_with_embedding(x)
        probs.append(torch.softmax(logits.float(), dim=2))
        if embeddings:
            embs.append(emb.float())
    return Predictions(torch.cat(probs, dim=1), torch.cat(embs, dim=1) if embeddings else None)


@torch.inference_mode()
def mc_dropout_probs(model: nn.Module, embeddings: torch.Tensor, samples: int,
                     generator: torch.Generator) -> torch.Tensor:
    """MC-dropout probabilities ``[N, S, C]`` from pool embeddings ``[N, D]`` of one model.

    Dropout sits only in front of the classifier head, so the trunk runs once (in eval mode,
    BatchNorm frozen) and the S stochastic passes are S dropout masks, drawn from
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
                    generator: torch.Generator, device: torch.device, batch_size: int = 4096,
                    bf16: bool = True) -> torch.Tensor:
    """Probabilities ``[N, V, C]`` of V augmented views of each image (the cell's policy)."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)
        per_view = []
        for _ in range(views):
            with autocast(device, bf16):
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

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """``{prefix_accuracy: ..., prefix_balanced_accuracy: ..., prefix_auc: ..., prefix_loss: ...}``."""
        return {f"{prefix}_accuracy": self.accuracy,
                f"{prefix}_balanced_accuracy": self.balanced_accuracy,
                f"{prefix}_auc": self.auc, f"{prefix}_loss": self.loss}


def auc_score(y: np.ndarray, probs: np.ndarray) -> float:
    """Binary: ROC AUC of the positive class; multi-class: mean one-vs-rest AUC (MedMNIST).

    The Mann-Whitney form of the area (average ranks for ties), all classes in one
    ``scipy.stats.rankdata`` call: equal to scikit-learn's ``roc_auc_score`` (the tests hold
    it to that), without its per-call validation, which dominated the evaluation of a cohort.
    Classes absent from ``y``, or making up all of it, are left out (AUC undefined); ``nan``
    when none is left.
    """
    y = np.asarray(y)
    cols = [1] if probs.shape[1] == 2 else list(range(probs.shape[1]))
    pos = np.stack([y == c for c in cols], axis=1)  # [N, C']
    n_pos = pos.sum(0)
    ok = (n_pos > 0) & (n_pos < len(y))
    if not ok.any():
        return float("nan")
    ranks = rankdata(probs[:, cols], axis=0)
    n_neg = len(y) - n_pos
    auc = ((ranks * pos).sum(0) - n_pos * (n_pos + 1) / 2) / np.maximum(n_pos * n_neg, 1)
    return float(auc[ok].mean())


def metrics(probs: torch.Tensor, labels: torch.Tensor) -> EvalMetrics:
    """Accuracy, balanced accuracy, AUC and cross-entropy of probabilities ``[N, C]``.

    Balanced accuracy is scikit-learn's: the mean recall over the classes present in the labels.
    """
    probs, y = probs.float().cpu(), labels.cpu()
    loss = float(tnf.nll_loss(torch.log(probs.clamp_min(1e-12)), y))
    pred = probs.argmax(1).numpy()
    yn = y.numpy()
    present = np.unique(yn)
    recall = [float((pred[yn == c] == c).mean()) for c in present]
    return EvalMetrics(float((pred == yn).mean()), float(np.mean(recall)),
                       auc_score(yn, probs.numpy().astype(np.float64)), loss)


def evaluate(net: StackedClassifier, images: torch.Tensor, labels: torch.Tensor,
             device: torch.device, batch_size: int = 4096, bf16: bool = True) -> list[EvalMetrics]:
    """Metrics of each of ``net``'s K models on one labeled split."""
    probs = predict(net, images, device, batch_size, bf16=bf16).probs
    return [metrics(p, labels) for p in probs]
