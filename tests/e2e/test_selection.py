"""Model selection inside a round: best_val reads the official validation split, best_holdout
a part of the labeled set it holds out of training (paid for from the budget)."""

import torch
from helpers import tiny_config

from al4ml.data import create_dataset
from al4ml.data.base import ActiveDataset, LabeledSplit
from al4ml.loop import ActiveLearningLoop

CPU = torch.device("cpu")


def run(cfg, dataset=None):
    [cell] = ActiveLearningLoop(cfg, dataset or create_dataset("digits"), CPU).run()
    if cell.error is not None:
        raise cell.error
    return cell.state


def poisoned_validation() -> ActiveDataset:
    real = create_dataset("digits")
    wrong = (
        real.val.labels
        + 1
        + torch.randint(0, 9, real.val.labels.shape, generator=torch.Generator().manual_seed(3))
    ) % 10
    return ActiveDataset(
        real.info, real.pool_images, real._pool_labels, LabeledSplit(real.val.images, wrong), real.test
    )


def test_best_holdout_picks_epochs_without_the_validation_split_and_best_val_with_it():
    """Poisoned validation labels leave every epoch best_holdout picks, every query and every
    test score unchanged; best_val's picks follow the poison (the check can fail)."""
    sets = {"training.epochs": 6, "budget.initial": 20, "budget.total": 40}
    holdout = tiny_config(**sets, **{"training.select": "best_holdout"})
    clean, dirty = run(holdout), run(holdout, poisoned_validation())
    picks = [r.metrics["selected_epoch"] for r in clean.history]
    assert picks == [r.metrics["selected_epoch"] for r in dirty.history]
    assert [r.queried for r in clean.history] == [r.queried for r in dirty.history]
    assert [r.metrics["test_accuracy"] for r in clean.history] == [
        r.metrics["test_accuracy"] for r in dirty.history
    ]
    official = tiny_config(**sets, **{"training.select": "best_val"})
    clean, dirty = run(official), run(official, poisoned_validation())
    assert [r.metrics["selected_epoch"] for r in clean.history] != [
        r.metrics["selected_epoch"] for r in dirty.history
    ]
