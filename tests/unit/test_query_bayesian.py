import torch

from al4ml.query import run_strategy
from al4ml.query.bayesian import bald_scores, mean_std_scores, variation_ratio_scores


def planted(n=40, k=10, c=3):
    """Row 0: confident samples that disagree (high BALD). Row 1: uniform but agreeing samples
    (high entropy, zero BALD). Row 2: confident and agreeing (lowest). Others: mild noise."""
    g = torch.Generator().manual_seed(0)
    mc = torch.softmax(torch.randn(n, k, c, generator=g) * 0.3 + torch.tensor([2.0, 0, 0]), 2)
    mc[0] = torch.eye(c)[torch.arange(k) % c] * 0.98 + 0.02 / c
    mc[1] = 1.0 / c
    mc[2] = torch.tensor([0.98, 0.01, 0.01])
    return mc


def test_bald_ranks_disagreement_first_and_confident_agreement_last():
    mc = planted()
    scores = bald_scores(mc)
    assert int(scores.argmax()) == 0
    assert int(scores.argmin()) in (1, 2)
    assert scores[1].abs() < 1e-6 and scores[2].abs() < 1e-6
    idx, _ = run_strategy("bald", 1, torch.Generator().manual_seed(0), {"mc_probs": lambda: mc})
    assert idx.tolist() == [0]


def test_variation_ratios_and_mean_std_pick_the_planted_row():
    mc = planted()
    assert int(variation_ratio_scores(mc).argmax()) == 0
    assert float(variation_ratio_scores(mc)[2]) == 0.0
    assert int(mean_std_scores(mc).argmax()) == 0
    for name in ("variation_ratios", "mean_std"):
        idx, _ = run_strategy(name, 1, torch.Generator().manual_seed(0), {"mc_probs": lambda: mc})
        assert idx.tolist() == [0]


def test_bald_equals_mutual_information_by_hand():
    mc = torch.tensor([[[0.9, 0.1], [0.1, 0.9]]])
    h = lambda p: -(p * p.log()).sum(-1)  # noqa: E731
    expected = h(torch.tensor([0.5, 0.5])) - h(torch.tensor([0.9, 0.1]))
    assert torch.allclose(bald_scores(mc), expected.unsqueeze(0))
