"""The augmentation search inside the cycle: it finds what a planted dataset rewards, reads
only labeled data, is logged per round and reproduces."""

import pytest
import torch
from helpers import search, tiny_config

from al4ml.config import SearchConfig
from al4ml.errors import ConfigError


def test_density_scores_candidates_on_augmented_held_out_folds_without_training_them(inverting_policy):
    """Fast AutoAugment's ranking: the fold models never saw augmentation; inverting their
    held-out images flips every brightness class, so the inverting candidate scores lowest
    and ``none`` (the held-out data as it is) highest."""
    result = search(
        1,
        [inverting_policy, {"name": "none"}, {"name": "trivialaugment"}],
        method="density",
        options={"views": 2},
        steps=80,
    )
    by_name = {t.name: t.score for t in result.trials}
    assert by_name["test_invert"] < by_name["trivialaugment"] <= by_name["none"], by_name
    assert by_name["none"] >= 0.9 and result.chosen.name == "none"


def test_optuna_trials_score_as_the_grid_does_and_prune_fold_by_fold(inverting_policy):
    """A trial's fold models are the grid's members of that candidate (same seeds, exact
    cohorts on CPU), so unpruned trials have the grid's fold scores; a pruned one has fewer."""
    space = [inverting_policy, {"name": "none"}, {"name": "trivialaugment"}]
    ra = {"n": [1, 2], "m": [10, 30]}
    grid = {t.candidate: t.fold_scores for t in search(0, space, randaugment=ra).trials}
    found = search(0, space, randaugment=ra, method="optuna", options={"trials": 12})
    assert found.trials and all(
        t.fold_scores == grid[t.candidate][: len(t.fold_scores)] for t in found.trials
    )
    assert all(len(t.fold_scores) == 4 for t in found.trials if not t.pruned)
    assert all(len(t.fold_scores) < 4 for t in found.trials if t.pruned)
    done = [t for t in found.trials if not t.pruned]
    [chosen] = [t for t in found.trials if t.candidate == found.index]
    assert chosen.score == max(t.score for t in done)
    again = search(0, space, randaugment=ra, method="optuna", options={"trials": 12})
    assert [(t.candidate, t.fold_scores) for t in again.trials] == [
        (t.candidate, t.fold_scores) for t in found.trials
    ]


def test_candidates_trained_one_at_a_time_score_as_a_cohort_does(inverting_policy):
    space = [inverting_policy, {"name": "none"}, {"name": "trivialaugment"}]
    assert [t.fold_scores for t in search(2, space, stack=False).trials] == [
        t.fold_scores for t in search(2, space).trials
    ]


def test_the_search_space_comes_in_families_in_order():
    cfg = SearchConfig(
        policies=[{"name": "none"}],
        randaugment={"n": [1], "m": [5, 30]},
        trivialaugment={"space": ["standard", "wide"], "top": [10]},
    )
    assert [(label, [(c.name, c.params) for c in fam]) for label, fam in cfg.families()] == [
        ("policies[0]", [("none", {})]),
        ("randaugment", [("randaugment", {"n": 1, "m": 5}), ("randaugment", {"n": 1, "m": 30})]),
        (
            "trivialaugment",
            [
                ("trivialaugment", {"space": "standard", "top": 10}),
                ("trivialaugment", {"space": "wide", "top": 10}),
            ],
        ),
    ]
    assert len(cfg.candidates()) == 5


def test_trivialaugment_top_bounds_the_levels_it_draws():
    """``top`` caps TrivialAugment's uniform level: at top 0 every op is at its weakest level,
    at 30 (the default) the draws are those of the uncapped policy."""
    from al4ml.augment import create_augmentation

    x = torch.randint(0, 256, (256, 1, 12, 12), dtype=torch.uint8)
    weakest = create_augmentation("trivialaugment", top=0).stages(x, torch.Generator().manual_seed(0))
    capped = create_augmentation("trivialaugment", top=30).stages(x, torch.Generator().manual_seed(0))
    plain = create_augmentation("trivialaugment").stages(x, torch.Generator().manual_seed(0))
    assert all(
        torch.equal(a, b) for sa, sb in zip(capped, plain, strict=True) for a, b in zip(sa, sb, strict=True)
    )
    from al4ml.augment.policy import space

    sp = space("standard")
    [(op, value)] = weakest
    level0 = sp.on(op.device)["values"][op, 0].float() + sp.on(op.device)["offset"][op].float()
    assert torch.allclose(value.abs(), level0.abs()) or torch.allclose(value, level0)


def test_a_search_reports_every_candidate_and_its_folds(inverting_policy):
    result = search(0, [inverting_policy, {"name": "none"}, {"name": "randaugment", "params": {"n": 1}}])
    assert [t.name for t in result.trials] == ["test_invert", "none", "randaugment"]
    assert all(len(t.fold_scores) == 4 and 0 <= t.score <= 1 for t in result.trials)
    assert result.trials[result.index].score == max(t.score for t in result.trials)
    assert result.trials[0].score < 0.5  # inverted training images teach the opposite classes
    rows = result.rows(2, 40)
    assert sum(r["chosen"] for r in rows) == 1 and rows[2]["params"] == {"n": 1}
    assert result.metrics()["aug_choice"] == result.index and result.metrics()["search_seconds"] > 0
    again = search(0, [inverting_policy, {"name": "none"}, {"name": "randaugment", "params": {"n": 1}}])
    assert [t.fold_scores for t in again.trials] == [t.fold_scores for t in result.trials]


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"augmentation.search": {"policies": []}}, "the search space is empty"),
        (
            {"augmentation.search": {"policies": [{"name": "trivalaugment"}]}},
            "augmentation.search.policies[0].name: unknown augmentation 'trivalaugment'",
        ),
        (
            {"augmentation.search": {"randaugment": {"n": [2], "m": [99]}}},
            "augmentation.search.randaugment.m",
        ),
        ({"augmentation.search": {"policies": [{"name": "none"}], "every": 0}}, "augmentation.search.every"),
        ({"augmentation.search": {"policies": [{"name": "none"}], "folds": 6}}, "6 folds need at least 12"),
        (
            {"augmentation.search": {"policies": [{"name": "randaugment", "params": {"fill": 9}}]}},
            "candidates share the fill",
        ),
        (
            {"augmentation.search": {"policies": [{"name": "none"}], "method": "bayes"}},
            "augmentation.search.method: unknown search method 'bayes'; choose from: density, grid, optuna",
        ),
        (
            {
                "augmentation.search": {
                    "policies": [{"name": "none"}],
                    "method": "density",
                    "options": {"views": 0},
                }
            },
            "augmentation.search.options.views",
        ),
        (
            {
                "augmentation.search": {
                    "policies": [{"name": "none"}],
                    "method": "grid",
                    "options": {"trials": 5},
                }
            },
            "unknown option 'trials' for search method 'grid'",
        ),
        (
            {"augmentation.search": {"trivialaugment": {"top": [99]}}},
            "augmentation.search.trivialaugment.top",
        ),
        (
            {"augmentation.search": {"trivialaugment": {"space": ["huge"]}}},
            "augmentation.search.trivialaugment.space",
        ),
        (
            {"augmentation.search": {"policies": [{"name": "none"}], "validation": "test"}},
            "augmentation.search.validation",
        ),
    ],
)
def test_a_bad_search_is_one_line(overrides, fragment):
    import json

    with pytest.raises(ConfigError) as e:
        tiny_config(**{k: json.dumps(v) for k, v in overrides.items()})
    assert fragment in str(e.value) and "\n" not in str(e.value), str(e.value)
