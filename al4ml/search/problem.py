"""What a policy search reads and how its models train: splits, seeded members, cohorts.

A search trains *members*: fresh models, each with one candidate policy on the training part
of one split, seeded by its index (``search_init`` and ``search_train`` seeds of member j),
so a member trains the same whether it trains in a cohort with others or alone (exactly so
on CPU, where cohorts are exact). Scores are accuracies on a split's held-out images, which
are never augmented unless a method (``density``) augments them on purpose.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from al4ml.augment import create_augmentation
from al4ml.augment.policy import CohortAugment
from al4ml.config import PolicyChoice, SearchConfig, TrainingConfig
from al4ml.device import Execution
from al4ml.infer import metrics, predict
from al4ml.models.classifier import Classifier
from al4ml.models.stack import StackedClassifier
from al4ml.task import Task
from al4ml.train import fit

NO_AUGMENTATION = PolicyChoice(name="none")


@dataclass
class Trial:
    """One candidate's scores: held-out accuracy per split (fewer where pruned) and their mean."""

    candidate: int
    name: str
    params: dict[str, Any]
    fold_scores: list[float]
    pruned: bool = False

    @property
    def score(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")


@dataclass
class SearchResult:
    """What one search chose, from which trials, in how many seconds."""

    index: int
    chosen: PolicyChoice
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0

    def metrics(self) -> dict[str, float]:
        """What a searched round logs beside its metrics (step = labels): the chosen
        candidate's index (``aug_choice``), its numbers where it has them (``aug_n``,
        ``aug_m``, ``aug_top``) and the search's seconds."""
        out = {"aug_choice": float(self.index), "search_seconds": self.seconds}
        for key in ("n", "m", "top"):
            if key in self.chosen.params:
                out[f"aug_{key}"] = float(self.chosen.params[key])
        return out

    def rows(self, round_: int, n_labeled: int) -> list[dict[str, Any]]:
        """The trial table of this search, one row per trial (``search_trials.csv``)."""
        return [
            {
                "round": round_,
                "n_labeled": n_labeled,
                "candidate": t.candidate,
                "policy": t.name,
                "params": dict(t.params),
                "fold_scores": [round(s, 6) for s in t.fold_scores],
                "score": round(t.score, 6),
                "pruned": t.pruned,
                "chosen": t.candidate == self.index,
            }
            for t in self.trials
        ]


def best(trials: list[Trial], candidates: list[PolicyChoice]) -> SearchResult:
    """The unpruned trial with the highest mean score (the first candidate among equals)."""
    done = [t for t in trials if not t.pruned] or trials
    top = max(done, key=lambda t: (t.score, -t.candidate))
    return SearchResult(top.candidate, candidates[top.candidate], sorted(trials, key=lambda t: t.candidate))


def held_out_folds(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Held-out positions of a seeded k-fold split of ``labels`` (``[n]``, or ``[n, L]``).

    Stratified by class (scikit-learn's ``StratifiedKFold``) for class labels; plain
    ``KFold`` for multi-label rows. A class with fewer items than folds is spread as far as
    it goes (scikit-learn's warning about it is expected with a few labels and not shown).
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    positions = np.arange(len(labels))
    if labels.ndim == 1:
        splitter: Any = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % 2**32)
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed % 2**32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return [held for _, held in splitter.split(positions, labels if labels.ndim == 1 else None)]


@dataclass
class Split:
    """One way to score a member: train on ``train`` (positions into the labeled rows),
    score on ``images`` (uint8 ``[m, C, H, W]``, on the device) against ``labels``."""

    train: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor


@dataclass
class Member:
    """One model a search trains: candidate policy ``policy`` on split ``split``; ``index``
    picks its seeds (the same index trains the same model in any cohort)."""

    policy: PolicyChoice
    split: int
    index: int


@dataclass
class SearchProblem:
    """Everything one search may read, and how its models train.

    Attributes:
        candidates: The search space, in order.
        training: Training settings of a member (``search.epochs`` already applied).
        pool: uint8 ``[N, C, H, W]``: the pool images (on ``device``); only ``rows`` are read.
        rows: int64 ``[n]``: the labeled pool rows.
        labels: The labels the oracle revealed for ``rows`` (``[n]``, or ``[n, L]``).
        execution: Where and how to train and score (the run's).
        task: The label kind (loss and accuracy).
        new_model: A fresh, seeded model for member ``j`` (on ``device``).
        seed: ``seed(purpose, j)``: the search's seeds, per purpose and member.
        folds: k of the labeled k-fold (``validation: labeled``).
        validation: ``labeled`` (k-fold of the labeled set) or ``official`` (``val``).
        val: The official validation split ``(images, labels)``; only with ``official``.
        stack: Train a fit's members as one cohort (else one at a time).
        families: The candidates by family (label, indices), as ``SearchConfig.families``
            gives them; methods that sample a structured space (``optuna``) read it.
    """

    candidates: list[PolicyChoice]
    training: TrainingConfig
    pool: torch.Tensor
    rows: torch.Tensor
    labels: torch.Tensor
    execution: Execution
    task: Task
    new_model: Callable[[int], Classifier]
    seed: Callable[[str, int], int]
    folds: int = 3
    validation: Literal["labeled", "official"] = "labeled"
    val: tuple[torch.Tensor, torch.Tensor] | None = None
    stack: bool = True
    families: list[tuple[str, list[int]]] | None = None
    _splits: list[Split] | None = None

    @classmethod
    def of(cls, search: SearchConfig, training: TrainingConfig, **inputs: Any) -> SearchProblem:
        """The problem of ``search``: its candidates and families, its members' training
        (``search.epochs`` replaces the epochs), plus ``inputs`` (data, execution, seeds)."""
        families, start = [], 0
        for label, family in search.families():
            families.append((label, list(range(start, start + len(family)))))
            start += len(family)
        epochs = training.epochs if search.epochs is None else search.epochs
        return cls(
            candidates=search.candidates(),
            training=training.model_copy(update={"epochs": epochs}),
            folds=search.folds,
            validation=search.validation,
            stack=search.stack,
            families=families,
            **inputs,
        )

    def splits(self) -> list[Split]:
        """Where members train and are scored: k seeded stratified folds of the labeled set
        (train on the other k - 1, equally many items per fold so that they share a cohort),
        or all labeled items scored on the official validation split."""
        if self._splits is not None:
            return self._splits
        y = self.labels.cpu()
        n = len(self.rows)
        if self.validation == "official":
            if self.val is None:
                raise ValueError("validation: official needs the validation split")
            self._splits = [Split(torch.arange(n), self.val[0].to(self.execution.device), self.val[1].cpu())]
            return self._splits
        held = held_out_folds(y.numpy(), self.folds, self.seed("search_split", 0))
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed("search_split", 1)))
        kept = [order[~torch.isin(order, torch.as_tensor(h))] for h in held]
        size = min(len(k) for k in kept)
        images = self.pool[self.rows.to(self.pool.device)]
        self._splits = [
            Split(
                torch.sort(k[:size]).values,
                images[torch.as_tensor(h).to(images.device)],
                y[torch.as_tensor(h)],
            )
            for k, h in zip(kept, held, strict=True)
        ]
        return self._splits

    def fit(self, members: list[Member]) -> list[StackedClassifier]:
        """Train ``members`` (as one cohort, or one at a time with ``stack: false``); returns
        the trained stacks, whose models are the members in order."""
        groups = [members] if self.stack else [[m] for m in members]
        return [self._fit(group) for group in groups]

    def _fit(self, members: list[Member]) -> StackedClassifier:
        splits = self.splits()
        y = self.labels.cpu()
        models, policies, generators, rows, labels = [], [], [], [], []
        for m in members:
            models.append(self.new_model(m.index))
            policies.append(create_augmentation(m.policy.name, **m.policy.params))
            generators.append(
                torch.Generator(device=self.execution.device).manual_seed(self.seed("search_train", m.index))
            )
            train = splits[m.split].train
            rows.append(self.rows[train.to(self.rows.device)])
            labels.append(y[train])
        device = self.execution.device
        stack = StackedClassifier(models, exact=self.execution.exact_cohorts).to(device)
        fit(
            stack,
            self.pool,
            torch.stack(rows).to(device),
            torch.stack(labels).to(device),
            self.training,
            CohortAugment(policies, generators),
            self.execution,
            task=self.task,
        )
        return stack

    def probs(self, stacks: list[StackedClassifier], images: torch.Tensor) -> torch.Tensor:
        """float ``[K, m, C]``: every trained member's probabilities on ``images`` (as given:
        a method that wants them augmented augments them first)."""
        return torch.cat(
            [
                predict(s, images, self.execution, self.training.eval_batch_size, task=self.task).probs
                for s in stacks
            ]
        )

    def accuracy(self, probs: torch.Tensor, split: int) -> float:
        """Accuracy of one member's probabilities ``[m, C]`` on split ``split``'s labels."""
        return metrics(probs, self.splits()[split].labels, self.task).accuracy
