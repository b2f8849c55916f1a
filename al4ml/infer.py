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

from al4ml.augment.policy import Policy
from al4ml.device import Execution, to_input
from al4ml.models.classifier import Classifier
from al4ml.models.stack import StackedClassifier
from al4ml.task import MULTI_CLASS_TASK, Task


@dataclass(frozen=True)
class Predictions:
    """Scores of K models: ``probs [K, N, C]``, optional ``embeddings [K, N, D]`` (float32)."""

    probs: torch.Tensor
    embeddings: torch.Tensor | None = None


@torch.inference_mode()
def predict(
    net: StackedClassifier,
    images: torch.Tensor,
    execution: Execution,
    batch_size: int = 4096,
    embeddings: bool = False,
    task: Task = MULTI_CLASS_TASK,
) -> Predictions:
    """Score images with every model of ``net``, in eval mode, never augmented.

    Args:
        net: The cohort's stacked models.
        images: uint8 ``[N, C, H, W]`` (any device; moved batch-wise to ``device``).
        execution: Where and in which precision to run.
        batch_size: Images times models per forward pass (memory stays that of one model
            scoring ``batch_size`` images, whatever K).
        embeddings: Also return penultimate embeddings.
        task: Softmax over classes, or a sigmoid per finding (multi-label).
    """
    net.eval()
    chunk = max(1, batch_size // net.k)
    probs, embs = [], []
    for start in range(0, len(images), chunk):
        x = to_input(net.shared(images[start : start + chunk].to(execution.device, non_blocking=True)))
        with execution.autocast():
            logits, emb = net.forward_with_embedding(x)
        probs.append(task.probs(logits))
        if embeddings:
            embs.append(emb.float())
    return Predictions(torch.cat(probs, dim=1), torch.cat(embs, dim=1) if embeddings else None)


@torch.inference_mode()
def mc_dropout_probs(
    model: Classifier, embeddings: torch.Tensor, samples: int, generator: torch.Generator
) -> torch.Tensor:
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
def augmented_probs(
    model: nn.Module,
    images: torch.Tensor,
    augment: Policy,
    views: int,
    generator: torch.Generator,
    execution: Execution,
    batch_size: int = 4096,
) -> torch.Tensor:
    """Probabilities ``[N, V, C]`` of V augmented views of each image (the cell's policy)."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(execution.device)
        per_view = []
        for _ in range(views):
            with execution.autocast():
                per_view.append(torch.softmax(model(to_input(augment(x, generator))).float(), 1))
        out.append(torch.stack(per_view, dim=1))
    return torch.cat(out)


@dataclass(frozen=True)
class EvalMetrics:
    """Evaluation metrics of one split (``accuracy`` and ``auc`` as ``medmnist.Evaluator``
    computes them; for a multi-label set each is the mean over the findings)."""

    accuracy: float
    balanced_accuracy: float
    auc: float
    loss: float

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """``{prefix_accuracy: ..., prefix_balanced_accuracy: ..., prefix_auc: ..., prefix_loss: ...}``."""
        return {
            f"{prefix}_accuracy": self.accuracy,
            f"{prefix}_balanced_accuracy": self.balanced_accuracy,
            f"{prefix}_auc": self.auc,
            f"{prefix}_loss": self.loss,
        }


def _rank_auc(pos: np.ndarray, scores: np.ndarray) -> float:
    """Mean ROC AUC over columns: ``pos`` bool ``[N, M]`` (positives), ``scores`` ``[N, M]``.

    The Mann-Whitney form of the area (average ranks for ties), all columns in one
    ``scipy.stats.rankdata`` call: equal to scikit-learn's ``roc_auc_score`` per column (the
    tests hold it to that), without its per-call validation, which dominated the evaluation
    of a cohort. Columns whose positives are none or all are left out (AUC undefined);
    ``nan`` when none is left.
    """
    n_pos = pos.sum(0)
    ok = (n_pos > 0) & (n_pos < len(pos))
    if not ok.any():
        return float("nan")
    ranks = rankdata(scores, axis=0)
    n_neg = len(pos) - n_pos
    auc = ((ranks * pos).sum(0) - n_pos * (n_pos + 1) / 2) / np.maximum(n_pos * n_neg, 1)
    return float(auc[ok].mean())


def auc_score(y: np.ndarray, probs: np.ndarray, task: Task = MULTI_CLASS_TASK) -> float:
    """AUC as MedMNIST reports it: binary, ROC AUC of the positive class; multi-class, mean
    one-vs-rest AUC; multi-label (``y`` 0/1 ``[N, L]``), mean AUC over the findings."""
    y = np.asarray(y)
    if task.multi_label:
        return _rank_auc(y.astype(bool), probs)
    cols = [1] if probs.shape[1] == 2 else list(range(probs.shape[1]))
    return _rank_auc(np.stack([y == c for c in cols], axis=1), probs[:, cols])


def metrics(probs: torch.Tensor, labels: torch.Tensor, task: Task = MULTI_CLASS_TASK) -> EvalMetrics:
    """Accuracy, balanced accuracy, AUC and loss of probabilities ``[N, C]``.

    Multi-class: accuracy of the argmax, scikit-learn's balanced accuracy (mean recall over
    the classes present), cross-entropy. Multi-label (labels 0/1 ``[N, L]``): per finding, the
    accuracy of ``p > 0.5`` and the mean of its recall on negatives and positives (those
    present), each averaged over the findings as ``medmnist.Evaluator`` averages accuracy;
    binary cross-entropy.
    """
    probs, y = probs.float().cpu(), labels.cpu()
    p64 = probs.numpy().astype(np.float64)
    yn = y.numpy()
    if task.multi_label:
        loss = float(tnf.binary_cross_entropy(probs.double().clamp(1e-7, 1 - 1e-7), y.double()))
        pred = p64 > 0.5
        truth = yn.astype(bool)
        recalls = [
            [
                float((pred[truth[:, j] == v, j] == v).mean())
                for v in (False, True)
                if (truth[:, j] == v).any()
            ]
            for j in range(yn.shape[1])
        ]
        return EvalMetrics(
            float((pred == truth).mean()),
            float(np.mean([np.mean(r) for r in recalls])),
            auc_score(yn, p64, task),
            loss,
        )
    loss = float(tnf.nll_loss(torch.log(probs.clamp_min(1e-12)), y))
    pred = probs.argmax(1).numpy()
    present = np.unique(yn)
    recall = [float((pred[yn == c] == c).mean()) for c in present]
    return EvalMetrics(float((pred == yn).mean()), float(np.mean(recall)), auc_score(yn, p64), loss)


def evaluate(
    net: StackedClassifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    execution: Execution,
    batch_size: int = 4096,
    task: Task = MULTI_CLASS_TASK,
) -> list[EvalMetrics]:
    """Metrics of each of ``net``'s K models on one labeled split."""
    probs = predict(net, images, execution, batch_size, task=task).probs
    return [metrics(p, labels, task) for p in probs]
