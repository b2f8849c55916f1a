"""Choosing the training augmentation inside the cycle: a policy search on labeled data only.

Every ``augmentation.search.every`` rounds, before the round's model trains, each candidate
policy of ``augmentation.search`` is scored by seeded, stratified k-fold cross-validation on
the cell's labeled set: a fresh model trains on k - 1 folds with the candidate and is scored
on the held-out fold, never augmented; a candidate's score is its mean held-out accuracy.
The candidates' models (candidates x folds of them) train together as one cohort, as a
grid's cells do, and the best candidate (the first among equals) trains the round's model on
all labeled data.

The search sees the pool images of the labeled rows and the labels the oracle revealed for
them, nothing else: the validation and test splits and the pool's unrevealed labels never
reach it, so the validation that picks a policy is paid for from the label budget (the
counted validation of Lüth et al., 2023).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from al4ml.augment import create_augmentation
from al4ml.augment.policy import CohortAugment
from al4ml.config import PolicyChoice, SearchConfig, TrainingConfig
from al4ml.device import exact_cohorts
from al4ml.infer import metrics, predict
from al4ml.models.classifier import Classifier
from al4ml.models.stack import StackedClassifier
from al4ml.task import Task
from al4ml.train import fit


@dataclass
class Trial:
    """One candidate's cross-validation: its held-out accuracy per fold and their mean."""

    candidate: int
    name: str
    params: dict[str, Any]
    fold_scores: list[float]

    @property
    def score(self) -> float:
        return float(np.mean(self.fold_scores))


@dataclass
class SearchResult:
    """What one search chose, from which trials, in how many seconds."""

    index: int
    chosen: PolicyChoice
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0

    def metrics(self) -> dict[str, float]:
        """What a searched round logs beside its metrics (step = labels): the chosen
        candidate's index (``aug_choice``), its RandAugment numbers where it has them
        (``aug_n``, ``aug_m``) and the search's seconds."""
        out = {"aug_choice": float(self.index), "search_seconds": self.seconds}
        for key in ("n", "m"):
            if key in self.chosen.params:
                out[f"aug_{key}"] = float(self.chosen.params[key])
        return out

    def rows(self, round_: int, n_labeled: int) -> list[dict[str, Any]]:
        """The trial table of this search, one row per candidate (``search_trials.csv``)."""
        return [{"round": round_, "n_labeled": n_labeled, "candidate": t.candidate, "policy": t.name,
                 "params": dict(t.params), "fold_scores": [round(s, 6) for s in t.fold_scores],
                 "score": round(t.score, 6), "chosen": t.candidate == self.index}
                for t in self.trials]


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


def search_policy(search: SearchConfig, training: TrainingConfig, pool: torch.Tensor,
                  rows: torch.Tensor, labels: torch.Tensor, device: torch.device, task: Task,
                  new_model: Callable[[int], Classifier], seed: Callable[[str, int], int]
                  ) -> SearchResult:
    """Score every candidate of ``search`` by k-fold cross-validation on the labeled set.

    Args:
        search: The search space and its settings.
        training: The cell's training settings (``search.epochs`` replaces the epochs).
        pool: uint8 ``[N, C, H, W]``: the pool images (on ``device``); only ``rows`` are read.
        rows: int64 ``[n]``: the labeled pool rows.
        labels: The labels the oracle revealed for ``rows`` (``[n]``, or ``[n, L]``).
        device: Where to train.
        task: The label kind (loss and accuracy).
        new_model: A fresh, seeded model for trial member ``j`` (on ``device``).
        seed: ``seed(purpose, j)``: the search's seeds, per purpose and member.

    Returns:
        The best candidate (mean held-out accuracy; the first among equals) and every trial.
    """
    start = time.perf_counter()
    candidates = search.candidates()
    y = labels.cpu()
    held = held_out_folds(y.numpy(), search.folds, seed("search_split", 0))
    n = len(rows)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed("search_split", 1)))
    kept = [order[~torch.isin(order, torch.as_tensor(h))] for h in held]
    size = min(len(k) for k in kept)  # a cohort's models train on equally many items
    trains = [torch.sort(k[:size]).values for k in kept]
    members, policies, generators, member_rows, member_labels = [], [], [], [], []
    for j, choice in enumerate(candidates):
        for f, train in enumerate(trains):
            member = j * len(trains) + f
            members.append(new_model(member))
            policies.append(create_augmentation(choice.name, **choice.params))
            generators.append(torch.Generator(device=device).manual_seed(seed("search_train", member)))
            member_rows.append(rows[train.to(rows.device)])
            member_labels.append(y[train])
    stack = StackedClassifier(members, exact=exact_cohorts(device)).to(device)
    epochs = training.epochs if search.epochs is None else search.epochs
    fit(stack, pool, torch.stack(member_rows).to(device), torch.stack(member_labels).to(device),
        training.model_copy(update={"epochs": epochs}), CohortAugment(policies, generators), device,
        task=task)
    probs = predict(stack, pool[rows.to(pool.device)], device, training.eval_batch_size,
                    bf16=training.bf16, task=task).probs  # [K, n, C]: never augmented
    trials = []
    for j, choice in enumerate(candidates):
        scores = [metrics(probs[j * len(trains) + f][torch.as_tensor(h)], y[torch.as_tensor(h)],
                          task).accuracy for f, h in enumerate(held)]
        trials.append(Trial(j, choice.name, dict(choice.params), scores))
    best = max(range(len(trials)), key=lambda j: (trials[j].score, -j))
    return SearchResult(best, candidates[best], trials, time.perf_counter() - start)
