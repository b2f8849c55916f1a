from conftest import tiny_config

from al4ml.config import ExperimentConfig
from al4ml.runs import (
    baseline_name,
    label,
    logged_as,
    logged_config,
    run_name,
    setting,
    setting_hash,
    training_setting,
)


def test_setting_drops_seed_and_name_and_spells_out_modal():
    flat = tiny_config(**{"query.strategy": "modal:modAL.batch.uncertainty_batch_sampling",
                          "seed": 4}).flat()
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
    flat = tiny_config(**{"query.strategy": "margin", "augmentation.name": "randaugment",
                          "augmentation.params.m": 9, "seed": 2}).flat()
    assert run_name(flat) == "margin+randaugment/s2"
    assert run_name(flat, {"augmentation.params.m": 9, "seed": 2}) == "margin+randaugment+m=9/s2"
    assert baseline_name(flat) == "baseline+randaugment/s2"
    assert label({"query.strategy": "entropy", "model.options.width": "8"}) == "entropy+width=8"
    assert "query.strategy" not in training_setting(flat) and "budget.total" not in training_setting(flat)
