import numpy as np
import pytest
import torch
from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling

from al4ml.query import INPUTS, STRATEGIES, run_strategy, select_topk, strategy_options
from al4ml.query.diversity import gradient_embeddings
from al4ml.query.modal import EmbeddingClassifier


class FixedProba:
    """A scikit-learn-style estimator whose predict_proba returns rows of a fixed table
    (X holds row indices), so modAL's selectors see exactly our probabilities."""

    def __init__(self, probs: np.ndarray) -> None:
        self.probs = probs

    def predict_proba(self, X):
        return self.probs[np.asarray(X).ravel()]


def random_probs(n=200, c=5, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(n, c, generator=g) * 2, dim=1)


def make_inputs(probs: torch.Tensor) -> dict:
    """Every input a strategy can ask for, synthetic but consistent with ``probs``."""
    g = torch.Generator().manual_seed(1)
    n, c = probs.shape
    emb = torch.randn(n, 16, generator=g)
    head = torch.nn.Linear(16, c)
    samples = torch.softmax(torch.log(probs)[:, None, :] + torch.randn(n, 6, c, generator=g), 2)
    views = torch.softmax(torch.log(probs)[:, None, :] + torch.randn(n, 4, c, generator=g), 2)
    labeled = torch.randn(7, 16, generator=g)
    return {
        "n": lambda: n,
        "probs": lambda: probs,
        "embeddings": lambda: emb,
        "labeled_embeddings": lambda: labeled,
        "mc_probs": lambda: samples,
        "aug_probs": lambda: views,
        "grad_embeddings": lambda: gradient_embeddings(probs, emb),
        "classifier": lambda: EmbeddingClassifier(head, labeled.numpy(), torch.device("cpu")),
    }


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "name, selector",
    [("least_confidence", uncertainty_sampling), ("margin", margin_sampling), ("entropy", entropy_sampling)],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_picks_as_modal(name, selector, seed):
    probs = random_probs(seed=seed)
    k = 17
    ours, _ = run_strategy(name, k, gen(), make_inputs(probs))
    theirs, _ = selector(FixedProba(probs.double().numpy()), np.arange(len(probs)), n_instances=k)
    assert set(ours.tolist()) == set(np.asarray(theirs).tolist())


@pytest.mark.parametrize("name", ["least_confidence", "margin", "entropy"])
def test_planted_most_informative_row_is_picked_first(name):
    probs = torch.full((50, 4), 0.0)
    probs[:, 0] = 0.97
    probs[:, 1:] = 0.01
    probs[31] = torch.tensor([0.26, 0.25, 0.25, 0.24])  # nearly uniform: most informative
    idx, scores = run_strategy(name, 1, gen(), make_inputs(probs))
    assert idx.tolist() == [31]
    assert scores.shape == (1,)


def test_planted_margin_row_differs_from_entropy_row():
    # Row 0: two-way tie (margin 0) but low entropy; row 1: spread out, higher entropy.
    probs = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.4, 0.2, 0.2, 0.2], [0.9, 0.1, 0.0, 0.0]])
    assert run_strategy("margin", 1, gen(), make_inputs(probs))[0].tolist() == [0]
    assert run_strategy("entropy", 1, gen(), make_inputs(probs))[0].tolist() == [1]


def test_random_planted_nothing_but_covers_pool_uniformly():
    counts = torch.zeros(10)
    for s in range(500):
        idx, _ = run_strategy("random", 3, gen(s), make_inputs(random_probs(10)))
        counts[idx] += 1
    assert counts.min() > 100 and counts.max() < 200


def test_topk_breaks_ties_by_seed_not_position():
    scores = torch.zeros(100)
    a, _ = select_topk(scores, 5, gen(0))
    b, _ = select_topk(scores, 5, gen(0))
    c, _ = select_topk(scores, 5, gen(1))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert a.tolist() != [0, 1, 2, 3, 4]


def test_topk_returns_highest_with_scores():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.9, 0.2])
    idx, vals = select_topk(scores, 3, gen())
    assert set(idx.tolist()) == {1, 3, 2} and vals.tolist() == sorted(vals.tolist(), reverse=True)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_contract(name):
    probs = random_probs(300, 6)
    inputs = make_inputs(probs)
    idx, scores = run_strategy(name, 25, gen(3), inputs)
    again, _ = run_strategy(name, 25, gen(3), inputs)
    assert idx.dtype == torch.int64 and idx.shape == (25,) and scores.shape == (25,)
    assert len(set(idx.tolist())) == 25
    assert int(idx.min()) >= 0 and int(idx.max()) < 300
    assert idx.tolist() == again.tolist()


@pytest.mark.parametrize("entry", list(STRATEGIES.entries()), ids=lambda e: e.name)
def test_every_strategy_declares_known_inputs_and_describes_itself(entry):
    assert set(entry.meta["needs"]) <= set(INPUTS)
    assert set(make_inputs(random_probs(3)).keys()) == set(INPUTS)
    assert entry.description
    assert "k" not in strategy_options(entry)
