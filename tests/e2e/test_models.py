import pytest
import torch


def test_simple_cnn_trains_in_the_loop():
    from helpers import tiny_config

    from al4ml.config import ExperimentConfig
    from al4ml.data import create_dataset
    from al4ml.loop import ActiveLearningLoop

    tree = tiny_config(**{"budget.total": 20, "training.epochs": 2}).model_dump()
    cfg = ExperimentConfig.model_validate(
        {**tree, "model": {"name": "simple_cnn", "options": {"hidden": 32}}}
    )
    [cell] = ActiveLearningLoop(cfg, create_dataset("digits"), torch.device("cpu")).run()
    assert cell.error is None
    assert [r.n_labeled for r in cell.state.history] == [10, 20]


def test_a_timm_model_trains_in_the_loop():
    pytest.importorskip("timm", reason="timm is not installed (pip install -e '.[timm]')")
    from helpers import tiny_config

    from al4ml.config import ExperimentConfig
    from al4ml.data import create_dataset
    from al4ml.loop import ActiveLearningLoop

    tree = tiny_config(**{"budget.total": 20, "training.epochs": 1}).model_dump()
    cfg = ExperimentConfig.model_validate({**tree, "model": {"name": "timm:resnet18"}})
    [cell] = ActiveLearningLoop(cfg, create_dataset("digits"), torch.device("cpu")).run()
    assert cell.error is None and [r.n_labeled for r in cell.state.history] == [10, 20]
