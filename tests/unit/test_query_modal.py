import numpy as np
import pytest
import torch
from modAL.uncertainty import uncertainty_sampling

from al4ml.config import build_config
from al4ml.errors import ConfigError
from al4ml.query import run_strategy
from al4ml.query.modal import EmbeddingClassifier


def test_embedding_classifier_runs_the_head_for_modal():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 3)
    X = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    clf = EmbeddingClassifier(head, X[:5], torch.device("cpu"))
    probs = clf.predict_proba(X)
    assert np.allclose(probs, torch.softmax(head(torch.from_numpy(X)), 1).detach().numpy(), atol=1e-6)
    ours, _ = run_strategy(
        "modal",
        7,
        torch.Generator().manual_seed(0),
        {"classifier": lambda: clf, "embeddings": lambda: torch.from_numpy(X)},
        {"function": "modAL.uncertainty.uncertainty_sampling"},
    )
    theirs, _ = uncertainty_sampling(clf, X, n_instances=7)
    assert set(ours.tolist()) == set(theirs.tolist())


def test_modal_shorthand_and_bad_function():
    cfg = build_config({}, ["query.strategy=modal:modAL.batch.uncertainty_batch_sampling"])
    assert cfg.query.strategy == "modal"
    assert cfg.query.params == {"function": "modAL.batch.uncertainty_batch_sampling"}
    with pytest.raises(
        ConfigError,
        match=r"query.params.function: no module 'modAL.nope' \(package "
        "'modAL' exists",
    ):
        build_config({}, ["query.strategy=modal:modAL.nope.nothing"])
    with pytest.raises(ConfigError, match="module 'modAL.uncertainty' has no function 'nothing'"):
        build_config({}, ["query.strategy=modal:modAL.uncertainty.nothing"])
    with pytest.raises(ConfigError, match="no module 'no_such_package' is installed"):
        build_config({}, ["query.strategy=modal:no_such_package.fn"])
