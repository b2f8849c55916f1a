import pytest
import torch

from al4ml.errors import ConfigError
from al4ml.query import STRATEGIES, run_strategy
from al4ml.query.augmentation import consistency_scores


def views():
    """Row 0: augmented views flip between classes. Row 1: all views agree."""
    v = torch.full((10, 6, 3), 0.0)
    v[:, :, 0] = 0.8
    v[:, :, 1:] = 0.1
    v[0] = torch.eye(3)[torch.tensor([0, 1, 2, 0, 1, 2])] * 0.9 + 0.1 / 3
    return v


@pytest.mark.parametrize("measure", ["kl", "variation_ratio"])
def test_unstable_item_ranks_above_stable_ones(measure):
    v = views()
    scores = consistency_scores(v, measure)
    assert scores[0] > scores[1:].max()
    idx, _ = run_strategy("aug_consistency", 1, torch.Generator().manual_seed(0),
                          {"aug_probs": lambda: v}, {"measure": measure})
    assert idx.tolist() == [0]


def test_unknown_measure_is_refused_by_the_strategy_options():
    entry = STRATEGIES.get("aug_consistency")
    with pytest.raises(ConfigError, match=r"query.params.measure: .*'js'.*one of: kl, variation_ratio"):
        entry.check("strategy", {"measure": "js"}, "query.params")
