import pytest
from helpers import REPO

from al4ml.config import ExperimentConfig, apply_override, build_config, load_config
from al4ml.errors import ConfigError


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (REPO / "experiments").glob("*.yaml") if not p.name.startswith("grid_")),
    ids=lambda p: p.name,
)
def test_shipped_experiments_validate_and_round_trip(path, tmp_path):
    import yaml

    cfg = load_config(path)
    assert cfg.name == yaml.safe_load(path.read_text())["name"]
    again = tmp_path / "again.yaml"
    again.write_text(cfg.to_yaml())
    assert load_config(again) == cfg


def test_defaults_follow_the_seed_study():
    t = ExperimentConfig().training
    assert (t.lr, t.milestones, t.gamma, t.batch_size, t.epochs) == (1e-3, [0.5, 0.75], 0.1, 128, 100)


def test_overrides_parse_yaml_values():
    cfg = build_config(
        {},
        [
            "budget.total=60",
            "training.lr=0.01",
            "augmentation.params.n=3",
            "augmentation.name=randaugment",
            "device=cpu",
        ],
    )
    assert cfg.budget.total == 60 and cfg.training.lr == 0.01
    assert cfg.augmentation.params == {"n": 3} and cfg.device == "cpu"


def test_unknown_key_names_key_and_valid_keys():
    with pytest.raises(ConfigError) as e:
        build_config({"training": {"epocs": 3}})
    msg = str(e.value)
    assert "training.epocs" in msg and "epochs" in msg and "batch_size" in msg
    assert "\n" not in msg


def test_unknown_top_level_key():
    with pytest.raises(ConfigError, match="unknown config key 'budgets'.*budget"):
        build_config({"budgets": {}})


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["query.strategy=entropyy"], "unknown strategy 'entropyy'; choose from:"),
        (["augmentation.name=cutmix"], "unknown augmentation 'cutmix'; choose from:"),
        (["model.name=vgg"], "unknown model 'vgg'; choose from:"),
        (["dataset.name=cifar"], "unknown dataset 'cifar'; choose from:"),
        (["device=tpu"], "device"),
        (["training.epochs=0"], "training.epochs"),
        (["budget.total=5", "budget.initial=10"], "total (5) must be >= initial (10)"),
        (
            ["augmentation.name=trivialaugment", "augmentation.params.spaec=wide"],
            "unknown option 'spaec' for augmentation 'trivialaugment'; valid options: space, top, fill",
        ),
        (["model.options.depth=3"], "unknown option 'depth' for model 'tiny_cnn'"),
        (["query.params.beta=1"], "unknown option 'beta' for strategy 'entropy'"),
        (
            ["budget.unit=cost", "budget.total=50", "oracle.cost.per_class=[1, 3]"],
            "budget.total: 50 (unit cost) does not surely pay for the initial 20 labels at up to 3 each",
        ),
        (["budget.unit=money"], "budget.unit"),
        (["oracle.cost.per_label=0"], "oracle.cost.per_label"),
        (["oracle.cost.per_class=[1, -2]"], "oracle.cost.per_class.1"),
        (
            [
                "dataset.name=medmnist",
                "dataset.options.flag=chestmnist",
                "query.strategy=random",
                "oracle.cost.per_class=[1, 2]",
            ],
            "oracle.cost.per_class: a multi-label answer",
        ),
    ],
)
def test_bad_values_are_one_line_naming_the_value(overrides, fragment):
    with pytest.raises(ConfigError) as e:
        build_config({}, overrides)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_build_config_leaves_the_callers_tree_alone():
    tree = {"training": {"epochs": 3}, "augmentation": {"name": "randaugment", "params": {"n": 1}}}
    cfg = build_config(tree, ["training.epochs=7", "augmentation.params.m=9"])
    assert tree == {"training": {"epochs": 3}, "augmentation": {"name": "randaugment", "params": {"n": 1}}}
    assert cfg.training.epochs == 7 and cfg.augmentation.params == {"n": 1, "m": 9}


def test_override_needs_equals_sign():
    with pytest.raises(ConfigError, match="key=value"):
        apply_override({}, "budget.total")


def test_flat_params_and_yaml_roundtrip(tmp_path):
    cfg = build_config({"augmentation": {"name": "randaugment", "params": {"n": 2, "m": 30}}})
    flat = cfg.flat()
    assert flat["augmentation.params.n"] == "2" and flat["budget.total"] == "200"
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(path) == cfg


def test_missing_config_file():
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("/nonexistent/x.yaml")


def test_a_cost_budget_counts_money_not_labels():
    cfg = build_config(
        {}, ["budget.unit=cost", "budget.total=10", "budget.initial=5", "oracle.cost.per_label=2"]
    )
    assert cfg.budget.total < 20 and cfg.oracle.cost.dearest == 2  # total below initial is fine
    assert not cfg.oracle.cost.default and build_config({}).oracle.cost.default
    assert build_config({}, ["oracle.cost.per_class=[2, 2]"]).oracle.cost.uniform
