import pytest
import torch
from helpers import views

from al4ml.errors import ConfigError
from al4ml.query import STRATEGIES, run_strategy
from al4ml.query.augmentation import consistency_scores


@pytest.mark.parametrize("measure", ["kl", "variation_ratio"])
def test_unstable_item_ranks_above_stable_ones(measure):
    v = views()
    scores = consistency_scores(v, measure)
    assert scores[0] > scores[1:].max()
    idx, _ = run_strategy(
        "aug_consistency", 1, torch.Generator().manual_seed(0), {"aug_probs": lambda: v}, {"measure": measure}
    )
    assert idx.tolist() == [0]


def test_unknown_measure_is_refused_by_the_strategy_options():
    entry = STRATEGIES.get("aug_consistency")
    with pytest.raises(ConfigError, match=r"query.params.measure: .*'js'.*one of: kl, variation_ratio"):
        entry.check("strategy", {"measure": "js"}, "query.params")


def test_view_scores_aggregate_as_named():
    """Row 0 is confident in five views and undecided in one; row 1 is mildly unsure in all:
    ``max`` ranks row 0 first, ``min`` and ``mean`` row 1."""
    v = torch.full((5, 6, 3), 0.0)
    v[:, :, 0], v[:, :, 1:] = 0.98, 0.01
    v[0, 2] = 1 / 3
    v[1] = torch.tensor([0.6, 0.2, 0.2])
    for aggregate, first in (("max", 0), ("min", 1), ("mean", 1)):
        idx, _ = run_strategy(
            "aug_uncertainty",
            1,
            torch.Generator().manual_seed(0),
            {"aug_probs": lambda: v},
            {"aggregate": aggregate},
        )
        assert idx.tolist() == [first], aggregate
    idx, _ = run_strategy(
        "aug_uncertainty",
        2,
        torch.Generator().manual_seed(0),
        {"aug_probs": lambda: v},
        {"measure": "margin", "aggregate": "max"},
    )
    assert sorted(idx.tolist()) == [0, 1]


def test_an_unknown_query_augmentation_is_one_line():
    from helpers import tiny_config

    with pytest.raises(
        ConfigError,
        match=r"^query.augmentation.name: unknown augmentation 'flip'; "
        r"choose from: .*trivialaugment",
    ):
        tiny_config(**{"query.augmentation": "{name: flip}"})
    with pytest.raises(ConfigError, match=r"^query.augmentation.params.n: "):
        tiny_config(**{"query.augmentation": "{name: randaugment, params: {n: 99}}"})
