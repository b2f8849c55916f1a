"""The cycle controller: train -> evaluate -> score the pool -> query k -> oracle labels them.

The loop owns the experiment state (:class:`LoopState`: a labeled mask over the pool, the
round each item was labeled in, and the labels the oracle revealed) and nothing else knows
pool labels. Observers (MLflow tracking, the progress display) are told what happened; they
never steer. Every random draw of a round comes from generators seeded by
``(seed, round, purpose)``, so a run is reproducible on CPU and can resume after a crash
from its last saved state without changing its trajectory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import torch

from al4ml.augment import create_augmentation
from al4ml.config import ExperimentConfig
from al4ml.data import ActiveDataset
from al4ml.models import Classifier, create_model
from al4ml.query import run_strategy
from al4ml.query.diversity import gradient_embeddings
from al4ml.query.modal import EmbeddingClassifier
from al4ml.train import (
    EvalMetrics,
    Predictions,
    augmented_probs,
    check_training,
    evaluate,
    fit,
    mc_dropout_probs,
    predict,
)

_PURPOSES = {"init": 0, "initial_set": 1, "train": 2, "query": 3}


def derive_seed(seed: int, round_: int, purpose: str) -> int:
    """A 63-bit seed for one purpose in one round (independent streams via SeedSequence)."""
    state = np.random.SeedSequence([seed, round_, _PURPOSES[purpose]]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


@dataclass
class RoundRecord:
    """What one round produced: metrics at ``n_labeled`` labels and the items it queried."""

    round: int
    n_labeled: int
    metrics: dict[str, float]
    queried: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


@dataclass
class LoopState:
    """The loop's whole state: enough to resume a run after a crash.

    Attributes:
        labeled_round: int64 ``[N]``: round in which each pool item was labeled, -1 if not.
        labels: int64 ``[N]``: labels revealed by the oracle, -1 where unknown.
        history: One record per finished round.
    """

    labeled_round: torch.Tensor
    labels: torch.Tensor
    history: list[RoundRecord] = field(default_factory=list)

    @property
    def labeled_mask(self) -> torch.Tensor:
        """bool ``[N]``: which pool items are labeled."""
        return self.labeled_round >= 0

    @property
    def n_labeled(self) -> int:
        """Number of labeled pool items."""
        return int(self.labeled_mask.sum())

    def to_dict(self) -> dict[str, Any]:
        """A picklable snapshot (for ``torch.save``)."""
        return {"labeled_round": self.labeled_round.clone(), "labels": self.labels.clone(),
                "history": [vars(r) for r in self.history]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopState:
        """Inverse of :meth:`to_dict`."""
        return cls(d["labeled_round"], d["labels"], [RoundRecord(**r) for r in d["history"]])


class Observer:
    """Receives loop events; subclasses override what they need (all no-ops here)."""

    def on_start(self, cfg: ExperimentConfig, dataset: ActiveDataset, state: LoopState) -> None:
        """Before the first round (after the initial set is labeled, or on resume)."""

    def on_round_start(self, round_: int, n_labeled: int) -> None:
        """Before training in a round."""

    def on_epoch(self, epoch: int, epochs: int) -> None:
        """After each training epoch."""

    def on_round(self, record: RoundRecord, state: LoopState) -> None:
        """After a round's evaluation and query."""

    def on_finish(self, model: Classifier, state: LoopState) -> None:
        """After the last round, with the model trained at the full budget."""


def _metrics(prefix: str, m: EvalMetrics) -> dict[str, float]:
    return {f"{prefix}_accuracy": m.accuracy, f"{prefix}_balanced_accuracy": m.balanced_accuracy,
            f"{prefix}_auc": m.auc, f"{prefix}_loss": m.loss}


class ActiveLearningLoop:
    """Runs one active-learning experiment.

    Args:
        cfg: The validated experiment config.
        dataset: Pool + val + test; its pool labels are handed to a fresh oracle here.
        device: Where data, training and scoring live.
        observers: Told about every round (tracking, progress).
    """

    def __init__(self, cfg: ExperimentConfig, dataset: ActiveDataset, device: torch.device,
                 observers: tuple[Observer, ...] = ()) -> None:
        self.cfg = cfg
        self.dataset = dataset
        self.device = device
        self.observers = observers
        check_training(cfg.training, device)
        self.oracle = dataset.make_oracle()
        self.augment = create_augmentation(cfg.augmentation.name, **cfg.augmentation.params)
        self.pool = dataset.pool_images.to(device)
        self.val = (dataset.val.images.to(device), dataset.val.labels)
        self.test = (dataset.test.images.to(device), dataset.test.labels)

    def _emit(self, event: str, *args: Any) -> None:
        for obs in self.observers:
            getattr(obs, event)(*args)

    def _label(self, state: LoopState, pool_idx: torch.Tensor, round_: int) -> None:
        idx = pool_idx.cpu()
        state.labels[idx] = self.oracle.label(idx)
        state.labeled_round[idx] = round_

    def initial_state(self) -> LoopState:
        """A seeded random initial set of ``budget.initial`` items, labeled in round 0."""
        n = self.oracle.pool_size
        state = LoopState(torch.full((n,), -1, dtype=torch.int64),
                          torch.full((n,), -1, dtype=torch.int64))
        g = _generator(derive_seed(self.cfg.seed, 0, "initial_set"), torch.device("cpu"))
        self._label(state, torch.randperm(n, generator=g)[: min(self.cfg.budget.initial, n)], 0)
        return state

    def resume_state(self, state: LoopState) -> LoopState:
        """Re-buy a saved state's labels from this oracle (they were paid before the crash)."""
        labeled = torch.nonzero(state.labeled_mask).flatten()
        state.labels[labeled] = self.oracle.label(labeled)
        return state

    def train_round(self, state: LoopState, round_: int) -> tuple[Classifier, float, float]:
        """Train a freshly initialised model on the labeled items; returns model, loss, seconds."""
        cfg, dev = self.cfg, self.device
        info = self.dataset.info
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(derive_seed(cfg.seed, round_, "init"))
            model = create_model(cfg.model.name, info.channels, info.num_classes,
                                 **cfg.model.options).to(dev, memory_format=torch.channels_last)
            labeled = torch.nonzero(state.labeled_mask).flatten()
            result = fit(model, self.pool[labeled.to(dev)], state.labels[labeled].to(dev),
                         cfg.training, self.augment,
                         _generator(derive_seed(cfg.seed, round_, "train"), dev), dev,
                         on_epoch=lambda e, n: self._emit("on_epoch", e, n))
        return model, result.train_loss, result.seconds

    def evaluate(self, model: Classifier, split: tuple[torch.Tensor, torch.Tensor]) -> EvalMetrics:
        """Metrics of ``model`` on a labeled ``(images, labels)`` split, never augmented."""
        t = self.cfg.training
        return evaluate(model, *split, self.device, t.eval_batch_size, bf16=t.bf16)

    def query(self, model: Classifier, state: LoopState, round_: int, k: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Score the unlabeled pool (no augmentation) and pick ``k`` pool indices with scores."""
        unlabeled = torch.nonzero(~state.labeled_mask).flatten()
        batch, bf16 = self.cfg.training.eval_batch_size, self.cfg.training.bf16

        q, dev = self.cfg.query, self.device
        g = _generator(derive_seed(self.cfg.seed, round_, "query"), dev)

        @cache
        def scored() -> Predictions:
            return predict(model, self.pool[unlabeled.to(dev)], dev, batch, embeddings=True,
                           bf16=bf16)

        @cache
        def labeled_embeddings() -> torch.Tensor:
            labeled = torch.nonzero(state.labeled_mask).flatten().to(dev)
            return predict(model, self.pool[labeled], dev, batch, embeddings=True,
                           bf16=bf16).embeddings

        inputs: dict[str, Callable[[], Any]] = {
            "n": lambda: len(unlabeled),
            "probs": lambda: scored().probs,
            "embeddings": lambda: scored().embeddings,
            "labeled_embeddings": labeled_embeddings,
            "mc_probs": lambda: mc_dropout_probs(model, scored().embeddings, q.mc_samples, g),
            "grad_embeddings": lambda: gradient_embeddings(scored().probs, scored().embeddings),
            "aug_probs": lambda: augmented_probs(model, self.pool[unlabeled.to(dev)], self.augment,
                                                 q.aug_views, g, dev, batch, bf16),
            "classifier": lambda: EmbeddingClassifier(
                model.head, labeled_embeddings().float().cpu().numpy(), dev),
        }
        rows, scores = run_strategy(q.strategy, k, g, inputs, q.params)
        return unlabeled[rows.cpu()], scores.detach().float().cpu()

    def run(self, state: LoopState | None = None) -> tuple[Classifier, LoopState]:
        """Run rounds until ``budget.total`` labels are spent (or the pool is exhausted).

        Args:
            state: A saved state to resume from; ``None`` starts with a random initial set.

        Returns:
            The model trained at the final budget and the final state.
        """
        budget = self.cfg.budget
        state = self.initial_state() if state is None else self.resume_state(state)
        self._emit("on_start", self.cfg, self.dataset, state)
        round_ = len(state.history)
        total = min(budget.total, self.oracle.pool_size)
        while True:
            self._emit("on_round_start", round_, state.n_labeled)
            model, train_loss, train_seconds = self.train_round(state, round_)
            metrics = {**_metrics("val", self.evaluate(model, self.val)),
                       **_metrics("test", self.evaluate(model, self.test)),
                       "train_loss": train_loss, "train_seconds": train_seconds,
                       "n_labeled": float(state.n_labeled)}
            record = RoundRecord(round_, state.n_labeled, metrics)
            k = min(budget.per_round, total - state.n_labeled)
            if k > 0:
                start = time.perf_counter()
                picked, scores = self.query(model, state, round_, k)
                self._label(state, picked, round_ + 1)
                record.queried, record.scores = picked.tolist(), scores.tolist()
                metrics["query_seconds"] = time.perf_counter() - start
            else:
                metrics["query_seconds"] = 0.0
            state.history.append(record)
            self._emit("on_round", record, state)
            if k <= 0:
                break
            round_ += 1
        self._emit("on_finish", model, state)
        return model, state
