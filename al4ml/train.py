"""Training, evaluation and pool scoring on device-resident tensors.

Data stays a uint8 tensor on the device for the whole round: batches are index slices of a
``randperm`` drawn on the device, augmentation runs on the batch on the device, and the
float conversion/normalisation happens per batch, into channels-last tensors (faster
convolutions and pooling on both CUDA and CPU). CUDA runs under bf16 autocast; CPU runs in
fp32 and is deterministic for a seed.
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
    """uint8 ``[B, C, H, W]`` -> normalised float ``[B, C, H, W]``, channels-last in memory."""
    out = (x.to(torch.float32) * (1.0 / 255) - MEAN) / STD
    return out.contiguous(memory_format=torch.channels_last)


def _autocast(device: torch.device, bf16: bool = True) -> torch.autocast:
    """bf16 autocast on CUDA (unless ``bf16`` is off); plain fp32 elsewhere."""
    # No cast cache: a CUDA graph capture must not keep cached casts alive, and a training
    # step uses each weight once per autocast region anyway.
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=bf16 and device.type == "cuda", cache_enabled=False)


@dataclass(frozen=True)
class FitResult:
    """Outcome of one round of training."""

    train_loss: float
    seconds: float
    steps: int


def _optimizer(model: nn.Module, cfg: TrainingConfig, device: torch.device, graphed: bool
               ) -> torch.optim.Adam:
    """Adam; fused on CUDA, and capturable with a device-tensor learning rate when graphed."""
    if not graphed:
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                fused=True if device.type == "cuda" else None)
    return torch.optim.Adam(model.parameters(), lr=torch.tensor(cfg.lr, device=device),
                            weight_decay=cfg.weight_decay, fused=True, capturable=True)


def _batches(perm: torch.Tensor, n_batches: int, equal: bool) -> tuple[torch.Tensor, ...]:
    """Split a permutation into ``n_batches`` index batches.

    ``equal=False``: sizes differ by at most one and every index is used. ``equal=True`` (one
    shape for a CUDA graph): ``len(perm) // n_batches`` each, so the last ``len(perm) %
    n_batches`` indices of this epoch's permutation sit the epoch out.
    """
    if not equal:
        return torch.tensor_split(perm, n_batches)
    size = len(perm) // n_batches
    return perm[: n_batches * size].view(n_batches, size).unbind(0)


class _Step:
    """One optimiser step on a batch of the labeled set, run eagerly.

    Gathers the batch by index from the device-resident images, augments it, trains, and
    adds the batch loss to :attr:`loss_sum` (on the device: no host sync per step).
    """

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, images: torch.Tensor,
                 labels: torch.Tensor, augment: Augmentation, generator: torch.Generator,
                 device: torch.device, bf16: bool = True) -> None:
        self.model, self.opt, self.device, self.bf16 = model, opt, device, bf16
        self.images, self.labels = images, labels
        self.augment, self.generator = augment, generator
        self.loss_sum = torch.zeros((), device=device)

    def _body(self, idx: torch.Tensor) -> None:
        x = to_input(self.augment(self.images[idx], self.generator))
        with _autocast(self.device, self.bf16):
            loss = tnf.cross_entropy(self.model(x), self.labels[idx])
        loss.backward()
        self.opt.step()
        self.loss_sum.add_(loss.detach().float() * len(idx))

    def __call__(self, idx: torch.Tensor) -> None:
        """Train on the items ``idx`` (int64 ``[B]`` on the device) of the labeled set."""
        self.opt.zero_grad(set_to_none=True)
        self._body(idx)


class _GraphedStep(_Step):
    """The whole step (gather, augment, normalise, forward, loss, backward, Adam) as one CUDA graph.

    A training step of a small model at 28 px is bound by kernel-launch overhead: a graph
    launches its few hundred kernels with one call. The first :attr:`WARMUP` steps run
    eagerly on a side stream (compilation of the augmentation, cuDNN algorithm choice,
    optimiser state); the next one is captured on a static index buffer, with the
    augmentation generator registered so that every replay draws fresh augmentations; every
    later step copies its indices in and replays. All of them are real training steps.
    Needs one batch size and a sync-free augmentation (every registered one is).
    """

    WARMUP = 3

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, images: torch.Tensor,
                 labels: torch.Tensor, augment: Augmentation, generator: torch.Generator,
                 device: torch.device, batch_size: int, bf16: bool = True) -> None:
        super().__init__(model, opt, images, labels, augment, generator, device, bf16)
        self.static_idx = torch.zeros(batch_size, dtype=torch.int64, device=device)
        self.side = torch.cuda.Stream(device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0
        self.lr = opt.param_groups[0]["lr"]

    def check_lr(self) -> None:
        """The graph reads the learning rate from the tensor it captured: schedulers must
        update that tensor in place (torch's do), never replace it."""
        if self.opt.param_groups[0]["lr"] is not self.lr:
            raise RuntimeError("the learning-rate scheduler replaced the optimiser's lr tensor; "
                               "a CUDA graph would keep training with the old value")

    def __call__(self, idx: torch.Tensor) -> None:
        self.static_idx.copy_(idx)
        if self.graph is not None:
            self.graph.replay()
            return
        self.opt.zero_grad(set_to_none=True)
        if self.eager_steps < self.WARMUP:
            self.side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self.side):
                self._body(self.static_idx)
            torch.cuda.current_stream(self.device).wait_stream(self.side)
            self.eager_steps += 1
            return
        # Gradients are None here, so backward allocates them from the graph's private pool
        # and every replay overwrites them.
        self.graph = torch.cuda.CUDAGraph()
        self.graph.register_generator_state(self.generator)
        with torch.cuda.graph(self.graph):
            self._body(self.static_idx)
        self.graph.replay()  # capture records the step; this runs it


def check_training(cfg: TrainingConfig, device: torch.device) -> bool:
    """Whether training on ``device`` replays CUDA graphs.

    ``cuda_graph`` at its default falls back to eager steps on a torch whose graphs cannot
    replay the draws of the augmentation's own generator; set explicitly, it is an error there.

    Raises:
        ConfigError: ``cuda_graph: true`` set explicitly, on CUDA, with such a torch.
    """
    if not (cfg.cuda_graph and device.type == "cuda"):
        return False
    if hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        return True
    if "cuda_graph" not in cfg.model_fields_set:
        return False
    from al4ml.errors import ConfigError

    raise ConfigError(f"training.cuda_graph: torch {torch.__version__} cannot replay random "
                      "draws of a custom generator in a CUDA graph; upgrade torch or set "
                      "training.cuda_graph=false")


def fit(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, cfg: TrainingConfig,
        augment: Augmentation, generator: torch.Generator, device: torch.device,
        on_epoch: Callable[[int, int], None] | None = None) -> FitResult:
    """Train ``model`` on the labeled set for ``cfg.epochs`` epochs.

    Args:
        model: A freshly initialised classifier on ``device``.
        images: uint8 ``[n, C, H, W]`` labeled images on ``device``.
        labels: int64 ``[n]`` their labels on ``device``.
        cfg: Optimiser and schedule (Adam, MultiStepLR at ``cfg.milestones`` of the epochs;
            at least ``cfg.min_steps`` optimiser steps; on CUDA devices ``cfg.cuda_graph``
            replays each step from a CUDA graph and ``cfg.compile`` runs the model's forward
            and backward through ``torch.compile``).
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
    graphed = check_training(cfg, device)
    opt = _optimizer(model, cfg, device, graphed)
    milestones = sorted({max(1, int(m * epochs)) for m in cfg.milestones})
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=cfg.gamma)
    net = torch.compile(model) if cfg.compile and device.type == "cuda" else model
    args = (net, opt, images, labels, augment, generator, device)
    step = (_GraphedStep(*args, n // n_batches, cfg.bf16) if graphed else _Step(*args, cfg.bf16))
    model.train()
    steps = seen = 0
    for epoch in range(epochs):
        step.loss_sum.zero_()
        seen = 0
        perm = torch.randperm(n, generator=generator, device=device)
        for idx in _batches(perm, n_batches, equal=graphed):
            step(idx)
            seen += len(idx)
            steps += 1
        sched.step()
        if graphed:
            step.check_lr()
        if on_epoch is not None:
            on_epoch(epoch + 1, epochs)
    opt.zero_grad(set_to_none=True)
    return FitResult(float(step.loss_sum) / seen, time.perf_counter() - start, steps)


@dataclass(frozen=True)
class Predictions:
    """Pool scores: ``probs [N, C]``, optional ``embeddings [N, D]`` (both float32, on device)."""

    probs: torch.Tensor
    embeddings: torch.Tensor | None = None


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int = 4096,
            embeddings: bool = False, bf16: bool = True) -> Predictions:
    """Score images without augmentation, in large batches, in eval mode.

    Args:
        model: A :class:`~al4ml.models.Classifier`.
        images: uint8 ``[N, C, H, W]`` (any device; moved batch-wise to ``device``).
        device: Where to run.
        batch_size: Images per forward pass.
        embeddings: Also return penultimate embeddings.
        bf16: bf16 autocast on CUDA.
    """
    model.eval()
    probs, embs = [], []
    for start in range(0, len(images), batch_size):
        x = to_input(images[start:start + batch_size].to(device, non_blocking=True))
        with _autocast(device, bf16):
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
                    generator: torch.Generator, device: torch.device, batch_size: int = 4096,
                    bf16: bool = True) -> torch.Tensor:
    """Probabilities ``[N, K, C]`` of K augmented views of each image (training policy)."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)
        per_view = []
        for _ in range(views):
            with _autocast(device, bf16):
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
             batch_size: int = 4096, bf16: bool = True) -> EvalMetrics:
    """Accuracy, balanced accuracy, AUC and cross-entropy of ``model`` on a labeled split."""
    probs = predict(model, images, device, batch_size, bf16=bf16).probs.cpu()
    y = labels.cpu()
    loss = float(tnf.nll_loss(torch.log(probs.clamp_min(1e-12)), y))
    pred = probs.argmax(1).numpy()
    yn = y.numpy()
    return EvalMetrics(float(accuracy_score(yn, pred)), float(balanced_accuracy_score(yn, pred)),
                       auc_score(yn, probs.numpy()), loss)
