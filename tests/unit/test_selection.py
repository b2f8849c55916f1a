"""Model selection inside a round: best_val reads the official validation split, best_holdout
a part of the labeled set it holds out of training (paid for from the budget)."""

import pytest
import torch
from helpers import tiny_config

from al4ml.data import create_dataset
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


def test_a_holdout_that_leaves_too_little_to_train_on_is_one_line():
    with pytest.raises(ConfigError, match=r"^training.holdout: 0.9 of budget.initial \(10\) leaves 1 "):
        tiny_config(**{"training.select": "best_holdout", "training.holdout": 0.9})
    assert (
        validation(tiny_config(**{"training.select": "best_holdout"}).flat())
        == "epochs: labeled 0.2 holdout (counted)"
    )
