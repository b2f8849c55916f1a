"""Model selection inside a round: best_val reads the official validation split, best_holdout
a part of the labeled set it holds out of training (paid for from the budget)."""

import pytest
import torch
from helpers import tiny_config

from al4ml.data import create_dataset
from al4ml.data.base import ActiveDataset, LabeledSplit
from al4ml.errors import ConfigError
from al4ml.loop import ActiveLearningLoop
from al4ml.runs import validation
from al4ml.selection import holdout_rows

CPU = torch.device("cpu")


class Labeled:
    """What :func:`holdout_rows` reads of a cell: its seed and revealed labels."""

    def __init__(self, seed: int, labels: torch.Tensor) -> None:
        self.cfg = tiny_config(seed=seed)
        self.current = type("State", (), {"labels": labels})()


def test_the_holdout_is_a_seeded_stratified_part_of_each_cells_labeled_rows():
    labels = torch.arange(200) % 4
    rows = torch.stack([torch.arange(0, 40), torch.arange(100, 140)])
    cells = [Labeled(0, labels), Labeled(1, labels)]
    train, held = holdout_rows(cells, rows, 0.2, round_=3)
    assert train.shape == (2, 32) and held.shape == (2, 8)
    for k in range(2):
        assert sorted(train[k].tolist() + held[k].tolist()) == rows[k].tolist()
        assert torch.bincount(labels[held[k]], minlength=4).tolist() == [2, 2, 2, 2]
    again_train, again_held = holdout_rows(cells, rows, 0.2, round_=3)
    assert torch.equal(again_held, held) and torch.equal(again_train, train)
    _, other_round = holdout_rows(cells, rows, 0.2, round_=4)
    assert not torch.equal(other_round, held)


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


@pytest.mark.slow
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


def test_a_holdout_that_leaves_too_little_to_train_on_is_one_line():
    with pytest.raises(ConfigError, match=r"^training.holdout: 0.9 of budget.initial \(10\) leaves 1 "):
        tiny_config(**{"training.select": "best_holdout", "training.holdout": 0.9})
    assert (
        validation(tiny_config(**{"training.select": "best_holdout"}).flat())
        == "epochs: labeled 0.2 holdout (counted)"
    )
