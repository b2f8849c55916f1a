import numpy as np
import pytest
import torch
from scipy.stats import bernoulli

from al4ml.errors import ConfigError
from al4ml.query import check_task, run_strategy, strategies_for
from al4ml.query.multilabel import binary_entropy_scores, margin_to_half_scores


def confident_findings(n=200, findings=14, seed=0) -> torch.Tensor:
    """Sigmoid outputs far from 0.5 (each finding near 0 or 1)."""
    g = torch.Generator().manual_seed(seed)
    hot = torch.rand(n, findings, generator=g) < 0.3
    noise = 0.1 * torch.rand(n, findings, generator=g)
    return torch.where(hot, 0.95 - noise, 0.02 + noise)


@pytest.mark.parametrize("name", ["multilabel_entropy", "multilabel_margin"])
def test_planted_undecided_image_is_picked_first(name):
    probs = confident_findings()
    probs[123] = 0.5  # every finding undecided
    probs[45, :3] = 0.5  # three undecided findings: second
    idx, scores = run_strategy(name, 2, torch.Generator().manual_seed(0), {"probs": lambda: probs})
    assert idx.tolist() == [123, 45]
    assert scores[0] > scores[1]


def test_scores_are_mean_binary_entropy_and_mean_distance_to_half():
    probs = confident_findings(50, 5)
    expected = np.mean(bernoulli(probs.double().numpy()).entropy(), axis=1)
    assert np.allclose(binary_entropy_scores(probs).numpy(), expected, atol=1e-6)
    assert np.allclose(margin_to_half_scores(probs).numpy(), -np.abs(probs.numpy() - 0.5).mean(1), atol=1e-7)


def test_strategies_say_which_label_kinds_they_mean_something_for():
    assert strategies_for("multi-label") == [
        "badge",
        "coreset",
        "multilabel_entropy",
        "multilabel_margin",
        "random",
    ]
    single = strategies_for("multi-class")
    assert "entropy" in single and "bald" in single and "multilabel_entropy" not in single
    with pytest.raises(
        ConfigError,
        match=r"^query.strategy: 'margin' is a strategy for multi-class "
        r"labels and this dataset is multi-label; choose from: badge, coreset",
    ):
        check_task("margin", "multi-label")
    check_task("badge", "multi-label")
