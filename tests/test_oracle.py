import pytest
import torch

from al4ml.errors import OracleError
from al4ml.oracle import SimulatedOracle


def test_reveals_only_queried_labels_and_counts():
    oracle = SimulatedOracle(torch.tensor([3, 1, 4, 1, 5]))
    assert oracle.labels_spent == 0
    assert oracle.label(torch.tensor([4, 0])).tolist() == [5, 3]
    assert oracle.labels_spent == 2
    assert oracle.label([2]).tolist() == [4]
    assert oracle.labels_spent == 3


@pytest.mark.parametrize("bad, message", [
    ([5], "out of range"), ([-1], "out of range"), ([1, 1], "queried twice")])
def test_refuses_bad_indices(bad, message):
    oracle = SimulatedOracle(torch.arange(5))
    with pytest.raises(OracleError, match=message):
        oracle.label(torch.tensor(bad))
    assert oracle.labels_spent == 0


def test_refuses_already_labeled():
    oracle = SimulatedOracle(torch.arange(5))
    oracle.label([2])
    with pytest.raises(OracleError, match="pool index 2 is already labeled"):
        oracle.label([0, 2])
    assert oracle.labels_spent == 1


def test_keeps_its_own_copy():
    labels = torch.tensor([0, 1, 2])
    oracle = SimulatedOracle(labels)
    labels[0] = 9
    assert oracle.label([0]).tolist() == [0]
