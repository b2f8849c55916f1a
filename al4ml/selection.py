"""Model selection inside a round (``training.select``): which epoch's model a cell keeps,
chosen on which held-out data.

``best_val`` scores every epoch on the official validation split, labels no budget paid for;
``best_holdout`` holds a seeded, stratified part of each cell's labeled set out of training
and scores on it, so the selection is paid for from the label budget (Lüth et al., 2023).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from al4ml.config import TrainingConfig, holdout_size
from al4ml.device import Execution
from al4ml.infer import metrics, predict
from al4ml.models.stack import StackedClassifier
from al4ml.seeds import derive_seed
from al4ml.task import Task

if TYPE_CHECKING:
    from al4ml.records import CohortMember


class BestOnVal:
    """``training.select``: each cell's model from its epoch with the best held-out AUC.

    After every epoch the stack is scored on held-out images (never augmented): the
    validation split (``best_val``), or each cell's own holdout of its labeled set
    (``best_holdout``: ``images`` holds them one after the other, cell k's at ``spans[k]``).
    A model whose AUC beats its best so far is copied out. Ties keep the earlier epoch.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: list[torch.Tensor],
        spans: list[tuple[int, int]],
        cells: list[CohortMember],
        training: TrainingConfig,
        execution: Execution,
        task: Task,
    ) -> None:
        self.images, self.labels, self.spans = images, labels, spans
        self.training, self.execution, self.task = training, execution, task
        self.models = [cell.model for cell in cells]
        self.best = [-1.0] * len(cells)
        self.epochs = [0] * len(cells)
        self.epoch = 0

    def observe(self, stack: StackedClassifier) -> None:
        """Score ``stack`` on val; keep each improved model (``[K]`` AUCs, one pass)."""
        import copy

        self.epoch += 1
        t = self.training
        stack.eval()
        probs = predict(stack, self.images, self.execution, t.eval_batch_size, task=self.task).probs
        for k, (start, end) in enumerate(self.spans):
            auc = metrics(probs[k][start:end], self.labels[k], self.task).auc
            if auc > self.best[k]:
                self.best[k], self.epochs[k] = auc, self.epoch
                self.models[k] = stack.member(k, copy.deepcopy(self.models[k]))

    def stack(self) -> StackedClassifier:
        """The selected models as one stack on the device."""
        return StackedClassifier(self.models, exact=self.execution.exact_cohorts).to(self.execution.device)


def holdout_rows(
    cells: list[CohortMember], rows: torch.Tensor, fraction: float, round_: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``best_holdout``: split each cell's labeled rows ``[K, n]`` into the rows it trains on
    and the rows that pick its epoch (``[K, n - h]``, ``[K, h]``; seeded per cell and round,
    stratified by revealed class where every class can give one to each side)."""
    from sklearn.model_selection import train_test_split

    h = holdout_size(rows.shape[1], fraction)
    train, held = [], []
    for cell, r in zip(cells, rows, strict=True):
        y = cell.current.labels[r].numpy()
        classes, counts = np.unique(y, return_counts=True) if y.ndim == 1 else (np.zeros(0), np.zeros(0))
        stratify = (
            y
            if len(classes) and counts.min() >= 2 and h >= len(classes) and len(r) - h >= len(classes)
            else None
        )
        keep, out = train_test_split(
            r.numpy(),
            test_size=h,
            stratify=stratify,
            random_state=derive_seed(cell.cfg.seed, round_, "holdout") % 2**32,
        )
        train.append(torch.from_numpy(np.sort(keep)))
        held.append(torch.from_numpy(np.sort(out)))
    return torch.stack(train), torch.stack(held)


def selector(
    training: TrainingConfig,
    cells: list[CohortMember],
    pool: torch.Tensor,
    val: tuple[torch.Tensor, torch.Tensor],
    held: torch.Tensor | None,
    execution: Execution,
    task: Task,
) -> BestOnVal | None:
    """What picks each cell's epoch: the validation split ``val`` (``best_val``), each cell's
    holdout rows ``held`` ``[K, h]`` of ``pool`` (``best_holdout``), or nothing (``last``)."""
    if training.select == "best_val":
        n = len(val[0])
        return BestOnVal(
            val[0], [val[1]] * len(cells), [(0, n)] * len(cells), cells, training, execution, task
        )
    if held is None:
        return None
    h = held.shape[1]
    return BestOnVal(
        pool[held.flatten().to(pool.device)],
        [c.current.labels[r] for c, r in zip(cells, held, strict=True)],
        [(k * h, (k + 1) * h) for k in range(len(cells))],
        cells,
        training,
        execution,
        task,
    )
