from helpers import tiny_config

from al4ml.config import ExperimentConfig
from al4ml.runs import (
    baseline_name,
    label,
    logged_as,
    logged_config,
    run_color,
    run_name,
    setting,
    setting_hash,
    training_setting,
    validation,
)

SEARCH = '{"method": "density", "policies": [{"name": "none"}, {"name": "trivialaugment"}], "folds": 2}'


def test_setting_drops_seed_and_name_and_spells_out_modal():
    flat = tiny_config(**{"query.strategy": "modal:modAL.batch.uncertainty_batch_sampling", "seed": 4}).flat()
    s = setting(flat)
    assert "seed" not in s and "name" not in s and "query.params.function" not in s
    assert s["query.strategy"] == "modal:modAL.batch.uncertainty_batch_sampling"
    other = tiny_config(**{"query.strategy": "modal:modAL.uncertainty.margin_sampling"}).flat()
    assert setting_hash(flat) != setting_hash(other)
    assert setting_hash(flat) == setting_hash({**flat, "seed": "9", "name": "elsewhere"})


def test_logged_config_fills_defaults_but_not_over_logged_sections():
    defaults = ExperimentConfig().flat()
    assert defaults["model.options"] == "{}"
    params = tiny_config(**{"model.options.width": 4}).flat()
    params.pop("training.bf16")  # as a run logged by an al4ml without that key
    config = logged_config(params, defaults)
    assert config["training.bf16"] == defaults["training.bf16"]
    assert "model.options" not in config and config["model.options.width"] == "4"
    assert logged_as(params, tiny_config(**{"model.options.width": 4}).flat(), defaults)
    assert not logged_as(params, tiny_config(**{"model.options.width": 5}).flat(), defaults)


def test_names_and_labels():
    flat = tiny_config(
        **{
            "query.strategy": "margin",
            "augmentation.name": "randaugment",
            "augmentation.params.m": 9,
            "seed": 2,
        }
    ).flat()
    assert run_name(flat) == "margin+randaugment/s2"
    assert run_name(flat, {"augmentation.params.m": 9, "seed": 2}) == "margin+randaugment+m=9/s2"
    assert baseline_name(flat) == "baseline+randaugment/s2"
    selected = tiny_config(**{"training.select": "best_val", "seed": 1}).flat()
    assert (
        baseline_name(selected, ["training.select", "seed", "query.strategy"])
        == "baseline+none+select=best_val/s1"
    )
    assert label({"query.strategy": "entropy", "model.options.width": "8"}) == "entropy+width=8"
    assert "query.strategy" not in training_setting(flat) and "budget.total" not in training_setting(flat)


def test_run_colors_give_each_setting_its_own_hue_and_each_seed_a_shade_of_it():
    from matplotlib.colors import to_rgb

    axes = {
        "query.strategy": ["random", "entropy", "margin"],
        "augmentation.name": ["none", "ta"],
        "seed": [0, 1, 2],
    }
    colors = {
        (s, a, seed): run_color(axes, {"query.strategy": s, "augmentation.name": a, "seed": seed})
        for s in axes["query.strategy"]
        for a in axes["augmentation.name"]
        for seed in axes["seed"]
    }
    base = {k[:2]: c for k, c in colors.items() if k[2] == 0}
    assert len(set(base.values())) == 6  # six settings, six hues
    assert len(set(colors.values())) == 18
    for (s, a, seed), color in colors.items():
        r, g, b = to_rgb(color)
        r0, g0, b0 = to_rgb(base[(s, a)])
        assert r >= r0 and g >= g0 and b >= b0  # mixed with white
        assert (color == base[(s, a)]) == (seed == 0)
    wide = {"query.strategy": [f"s{i}" for i in range(12)]}
    assert len({run_color(wide, {"query.strategy": f"s{i}"}) for i in range(12)}) == 12


def test_a_search_is_one_value_of_the_augmentation_axis():
    """A searched run's setting names its method under augmentation.name and folds the rest
    of the search into one key; another search space is another setting."""
    flat = tiny_config(**{"augmentation.search": SEARCH, "seed": 3}).flat()
    s = setting(flat)
    assert s["augmentation.name"] == "search:density"
    assert not any(k.startswith("augmentation.search.") for k in s)
    assert '"folds": "2"' in s["augmentation.search"]
    assert run_name(flat) == "entropy+search:density/s3"
    assert (
        run_name(flat, {"augmentation": [{"name": "none"}, {"search": {}}], "seed": [3]})
        == "entropy+search:density/s3"
    )
    other = tiny_config(**{"augmentation.search": SEARCH.replace('"folds": 2', '"folds": 3')}).flat()
    assert setting_hash(flat) != setting_hash(other)
    plain = tiny_config().flat()
    assert setting(plain)["augmentation.name"] == "none" and "augmentation.search" not in setting(plain)


def test_validation_says_which_held_out_data_chose_and_whether_it_was_paid_for():
    assert validation(tiny_config().flat()) == "none"
    assert (
        validation(tiny_config(**{"training.select": "best_val"}).flat())
        == "epochs: official val (uncounted)"
    )
    assert (
        validation(tiny_config(**{"augmentation.search": SEARCH}).flat())
        == "policy: labeled 2-fold (counted)"
    )
    official = SEARCH.replace('"folds": 2', '"folds": 2, "validation": "official"')
    both = tiny_config(**{"augmentation.search": official, "training.select": "best_val"}).flat()
    assert validation(both) == "epochs: official val (uncounted); policy: official val (uncounted)"
