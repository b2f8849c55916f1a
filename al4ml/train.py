"""Training a cohort's K models together on device-resident tensors.

Each cell trains its own model on its own labeled set with its own augmentation policy and
its own seeded generator, exactly as it would alone; the cohort only shares the work:
every step gathers the K batches by index from the one device-resident uint8 pool,
augments them in one pass (:class:`~al4ml.augment.policy.CohortAugment`), runs one
forward and backward through the stacked network
(:class:`~al4ml.models.stack.StackedClassifier`) and one fused Adam step. On CUDA the whole
step is captured once per round as a CUDA graph and replayed. A single run is a cohort of
one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from al4ml.augment.policy import CohortAugment
from al4ml.config import TrainingConfig
from al4ml.device import Execution, to_input
from al4ml.models.stack import StackedClassifier
from al4ml.task import MULTI_CLASS_TASK, Task


@dataclass(frozen=True)
class FitResult:
    """Outcome of one round of training: per-cell mean loss of the last epoch."""

    train_loss: list[float]
    seconds: float
    steps: int


def _optimizer(model: nn.Module, cfg: TrainingConfig, execution: Execution) -> torch.optim.Adam:
    """Adam; fused on CUDA, and capturable with a device-tensor learning rate when graphed."""
    if not execution.cuda_graph:
        return torch.optim.Adam(
            model.parameters(),
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            fused=True if execution.device.type == "cuda" else None,
        )
    return torch.optim.Adam(
        model.parameters(),
        lr=torch.tensor(cfg.lr, device=execution.device),
        weight_decay=cfg.weight_decay,
        fused=True,
        capturable=True,
    )


def batches(perm: torch.Tensor, n_batches: int, equal: bool) -> tuple[torch.Tensor, ...]:
    """Split permutations ``[K, n]`` into ``n_batches`` index batches ``[K, b]``.

    ``equal=False``: sizes differ by at most one and every index is used. ``equal=True`` (one
    shape for a CUDA graph): ``n // n_batches`` each, so the last ``n % n_batches`` indices
    of this epoch's permutations sit the epoch out.
    """
    if not equal:
        return torch.tensor_split(perm, n_batches, dim=1)
    k, n = perm.shape
    size = n // n_batches
    return perm[:, : n_batches * size].view(k, n_batches, size).unbind(1)


class _Step:
    """One optimiser step of all K models on their batches, run eagerly.

    Gathers each cell's batch by index from the device-resident pool, augments, trains, and
    adds each cell's batch loss to :attr:`loss_sum` ``[K]`` (on the device: no host sync
    per step). The loss is the sum of the K models' mean losses (the task's: cross-entropy,
    or binary cross-entropy per finding), so each model's gradient is the one it would get
    alone.
    """

    def __init__(
        self,
        net: Callable[[torch.Tensor], torch.Tensor],
        stack: StackedClassifier,
        opt: torch.optim.Optimizer,
        images: torch.Tensor,
        rows: torch.Tensor,
        labels: torch.Tensor,
        augment: CohortAugment,
        execution: Execution,
        task: Task = MULTI_CLASS_TASK,
    ) -> None:
        self.net, self.stack, self.opt, self.execution = net, stack, opt, execution
        self.images, self.rows, self.labels, self.augment = images, rows, labels, augment
        self.task = task
        self.loss_sum = torch.zeros(len(rows), device=execution.device)

    @property
    def device(self) -> torch.device:
        """Where the step runs (the execution's device)."""
        return self.execution.device

    def _body(self, idx: torch.Tensor) -> None:
        k, b = idx.shape
        x = self.augment(self.images[self.rows.gather(1, idx).flatten()])
        x = to_input(self.stack.pack(x.view(k, b, *x.shape[1:])))
        y = torch.take_along_dim(self.labels, idx.view(k, b, *[1] * (self.labels.ndim - 2)), dim=1)
        with self.execution.autocast():
            logits = self.net(x)
            loss = self.task.loss(logits.reshape(k, b, -1), y).mean(1)
        loss.sum().backward()
        self.opt.step()
        self.loss_sum.add_(loss.detach() * b)

    def __call__(self, idx: torch.Tensor) -> None:
        """Train on the items ``idx`` (int64 ``[K, B]`` on the device) of each labeled set."""
        self.opt.zero_grad(set_to_none=True)
        self._body(idx)


class _GraphedStep(_Step):
    """The whole step (gather, augment, normalise, forward, loss, backward, Adam) as one CUDA graph.

    Small models at 28 px are bound by kernel-launch overhead: a graph launches the step's
    kernels with one call. The first :attr:`WARMUP` steps run eagerly on a side stream
    (cuDNN algorithm choice, optimiser state); the next one is captured on a static index
    buffer, with every cell's augmentation generator registered so that every replay draws
    fresh augmentations; every later step copies its indices in and replays. All of them
    are real training steps. Needs one batch shape and sync-free augmentation (every
    registered policy is).
    """

    WARMUP = 3

    def __init__(self, *args: Any, batch: tuple[int, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.static_idx = torch.zeros(batch, dtype=torch.int64, device=self.device)
        self.side = torch.cuda.Stream(self.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0
        self.lr = self.opt.param_groups[0]["lr"]

    def check_lr(self) -> None:
        """The graph reads the learning rate from the tensor it captured: schedulers must
        update that tensor in place (torch's do), never replace it."""
        if self.opt.param_groups[0]["lr"] is not self.lr:
            raise RuntimeError(
                "the learning-rate scheduler replaced the optimiser's lr tensor; "
                "a CUDA graph would keep training with the old value"
            )

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
        for g in self.augment.generators:
            self.graph.register_generator_state(g)
        with torch.cuda.graph(self.graph):
            self._body(self.static_idx)
        self.graph.replay()  # capture records the step; this runs it


def fit(
    stack: StackedClassifier,
    images: torch.Tensor,
    rows: torch.Tensor,
    labels: torch.Tensor,
    cfg: TrainingConfig,
    augment: CohortAugment,
    execution: Execution,
    on_epoch: Callable[[int, int], None] | None = None,
    after_epoch: Callable[[int], None] | None = None,
    task: Task = MULTI_CLASS_TASK,
) -> FitResult:
    """Train a cohort's K models, each on its own labeled set, for ``cfg.epochs`` epochs.

    Args:
        stack: K freshly initialised models, stacked, on ``device``.
        images: uint8 ``[N, C, H, W]``: the whole pool on ``device`` (shared by the cells).
        rows: int64 ``[K, n]`` pool rows of each cell's labeled set (same n for all).
        labels: int64 ``[K, n]`` their labels as the oracle revealed them (``[K, n, L]`` 0/1
            findings for a multi-label task).
        cfg: Optimiser and schedule (Adam, MultiStepLR at ``cfg.milestones`` of the epochs;
            at least ``cfg.min_steps`` optimiser steps).
        augment: The cells' policies and generators; each generator also draws its cell's
            batch order, as a single run's does.
        execution: Where and how to train (autocast, CUDA graph, compile).
        on_epoch: Called with ``(epoch, epochs)`` after each epoch (progress display).
        after_epoch: Called with the epoch after each one, the stack in train mode (model
            selection evaluates and snapshots it there; it must not change the weights).
        task: The label kind, which picks the loss.

    Returns:
        Each cell's mean training loss in the last epoch, wall time and optimiser steps.
    """
    start = time.perf_counter()
    k, n = rows.shape
    # Even-sized batches (sizes differ by at most one): no trailing batch of one for BatchNorm.
    n_batches = max(1, min(-(-n // cfg.batch_size), n // 2))
    epochs = max(cfg.epochs, -(-cfg.min_steps // n_batches))
    graphed, device = execution.cuda_graph, execution.device
    opt = _optimizer(stack, cfg, execution)
    milestones = sorted({max(1, int(m * epochs)) for m in cfg.milestones})
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=cfg.gamma)
    net = torch.compile(stack) if execution.compile else stack
    args = (net, stack, opt, images, rows, labels, augment, execution)
    step = _GraphedStep(*args, task=task, batch=(k, n // n_batches)) if graphed else _Step(*args, task=task)
    stack.train()
    steps = seen = 0
    for epoch in range(epochs):
        step.loss_sum.zero_()
        seen = 0
        perm = torch.stack([torch.randperm(n, generator=g, device=device) for g in augment.generators])
        for idx in batches(perm, n_batches, equal=graphed):
            step(idx)
            seen += idx.shape[1]
            steps += 1
        sched.step()
        if isinstance(step, _GraphedStep):
            step.check_lr()
        if after_epoch is not None:
            after_epoch(epoch + 1)
            stack.train()
        if on_epoch is not None:
            on_epoch(epoch + 1, epochs)
    opt.zero_grad(set_to_none=True)
    return FitResult((step.loss_sum / seen).tolist(), time.perf_counter() - start, steps)
