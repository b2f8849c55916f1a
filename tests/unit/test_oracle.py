import pytest
import torch

from al4ml.errors import ConfigError, OracleError
from al4ml.oracle import LabelCost, LabelNoise, SimulatedOracle


def test_reveals_only_queried_labels_and_counts():
    oracle = SimulatedOracle(torch.tensor([3, 1, 4, 1, 5]))
    assert oracle.labels_spent == 0
    assert oracle.label(torch.tensor([4, 0])).tolist() == [5, 3]
    assert oracle.labels_spent == 2
    assert oracle.label([2]).tolist() == [4]
    assert oracle.labels_spent == 3


@pytest.mark.parametrize(
    "bad, message", [([5], "out of range"), ([-1], "out of range"), ([1, 1], "queried twice")]
)
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


def ask_all(oracle: SimulatedOracle, order: torch.Tensor, batch: int = 100) -> torch.Tensor:
    """Every item's answer, asked in ``order`` in batches, back in pool order."""
    out = torch.full((oracle.pool_size,), -1)
    for chunk in order.split(batch):
        out[chunk] = oracle.label(chunk)
    return out


@pytest.mark.parametrize("kind", ["symmetric", "asymmetric"])
def test_a_noisy_expert_errs_at_its_rate_and_the_same_way_every_time(kind):
    truth = torch.arange(2000) % 7
    noise = LabelNoise(0.2, kind, seed=11)
    oracle = SimulatedOracle(truth, 7, noise)
    answers = ask_all(oracle, torch.randperm(2000, generator=torch.Generator().manual_seed(0)))
    wrong = answers != truth
    assert abs(wrong.float().mean().item() - 0.2) <= 0.03
    assert oracle.wrong_answers == int(wrong.sum())
    assert ((answers >= 0) & (answers < 7)).all()
    if kind == "asymmetric":
        assert (answers[wrong] == (truth[wrong] + 1) % 7).all()
    else:  # every other class turns up as a wrong answer
        assert len(torch.unique((answers[wrong] - truth[wrong]) % 7)) == 6
    again = ask_all(SimulatedOracle(truth, 7, noise), torch.arange(2000).flip(0), batch=37)
    assert torch.equal(again, answers)  # same item, same answer, in any order (a resume)
    other = ask_all(SimulatedOracle(truth, 7, LabelNoise(0.2, kind, seed=12)), torch.arange(2000))
    assert not torch.equal(other, answers)


def test_a_confusion_matrix_expert_answers_from_its_row():
    truth = torch.arange(3000) % 2
    matrix = ((0.9, 0.1), (0.3, 0.7))
    answers = ask_all(
        SimulatedOracle(truth, 2, LabelNoise(kind="confusion", matrix=matrix)), torch.arange(3000)
    )
    for c in (0, 1):
        said_one = answers[truth == c].float().mean().item()
        assert abs(said_one - matrix[c][1]) <= 0.04
    with pytest.raises(ConfigError, match="2 x 2; this dataset has 3 classes"):
        SimulatedOracle(torch.arange(6) % 3, 3, LabelNoise(kind="confusion", matrix=matrix))


def test_an_exact_expert_is_never_wrong():
    oracle = SimulatedOracle(torch.arange(50) % 5, 5, LabelNoise(0.0))
    assert not oracle.noisy
    assert torch.equal(ask_all(oracle, torch.arange(50)), torch.arange(50) % 5)
    assert oracle.wrong_answers == 0


def test_a_noisy_multi_label_expert_flips_each_finding_at_its_rate():
    g = torch.Generator().manual_seed(0)
    truth = (torch.rand(2000, 14, generator=g) < 0.3).long()
    noise = LabelNoise(0.2, "symmetric", seed=5)
    oracle = SimulatedOracle(truth, 14, noise)
    got = oracle.label(torch.arange(2000))
    assert got.shape == (2000, 14) and set(got.unique().tolist()) == {0, 1}
    assert abs(float((got != truth).float().mean()) - 0.2) < 0.01
    assert oracle.wrong_answers == int((got != truth).any(1).sum())
    again = SimulatedOracle(truth, 14, noise).label(torch.arange(2000))
    assert torch.equal(got, again)
    with pytest.raises(ConfigError, match="asymmetric.*no multi-label meaning"):
        SimulatedOracle(truth, 14, LabelNoise(0.2, "asymmetric"))


def test_a_priced_expert_bills_each_answer_by_its_class():
    truth = torch.tensor([0, 1, 2, 1, 0])
    oracle = SimulatedOracle(truth, 3, cost=LabelCost(per_class=(1.0, 2.5, 4.0)))
    assert oracle.spent == 0.0
    oracle.label(torch.tensor([1, 2]))
    assert oracle.spent == 6.5
    oracle.label(torch.tensor([0]))
    assert oracle.spent == 7.5 and oracle.cost.dearest == 4.0 and oracle.cost.cheapest == 1.0
    flat = SimulatedOracle(truth, 3, cost=LabelCost(per_label=0.5))
    flat.label(torch.arange(5))
    assert flat.spent == 2.5
    noisy = SimulatedOracle(
        truth, 3, LabelNoise(0.9, "asymmetric", seed=1), LabelCost(per_class=(1.0, 10.0, 100.0))
    )
    answers = noisy.label(torch.arange(5))
    assert noisy.spent == sum((1.0, 10.0, 100.0)[a] for a in answers.tolist())  # billed as answered
    with pytest.raises(ConfigError, match="per_class has 2 prices; this dataset has 3 classes"):
        SimulatedOracle(truth, 3, cost=LabelCost(per_class=(1.0, 2.0)))
