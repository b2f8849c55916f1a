import numpy as np
import pytest
import torch
from sklearn.cluster import kmeans_plusplus

from al4ml.query import run_strategy
from al4ml.query.diversity import gradient_embeddings, k_center_greedy
from al4ml.query.diversity import kmeans_plusplus as ours


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_coreset_picks_the_point_farthest_from_the_labeled_set_first():
    g = gen()
    labeled = torch.randn(20, 8, generator=g)
    pool = torch.randn(100, 8, generator=g)
    pool[57] = 25.0  # far from everything labeled
    idx, _ = run_strategy(
        "coreset", 3, g, {"embeddings": lambda: pool, "labeled_embeddings": lambda: labeled}
    )
    assert idx[0] == 57
    d = torch.cdist(pool, labeled).min(1).values
    assert int(d.argmax()) == 57


def test_k_center_greedy_covers_distinct_clusters_and_chunks():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    g = gen(1)
    pool = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    labeled = centres[:1] + 0.05
    idx, dist = k_center_greedy(pool, labeled, 3, g)
    assert sorted((idx // 50).tolist()) == [1, 2, 3]
    assert torch.all(dist[:-1] >= dist[1:])


def planted_gradient_embeddings(clusters=5, per=40, dim=30, seed=0):
    g = gen(seed)
    centres = torch.randn(clusters, dim, generator=g) * 10
    x = torch.cat([c + 0.1 * torch.randn(per, dim, generator=g) for c in centres])
    return x, torch.arange(clusters).repeat_interleave(per)


def test_badge_picks_one_item_from_each_planted_cluster():
    x, cluster = planted_gradient_embeddings()
    for seed in range(5):
        idx, _ = run_strategy("badge", 5, gen(seed), {"grad_embeddings": lambda: x})
        assert sorted(cluster[idx].tolist()) == [0, 1, 2, 3, 4]


def potential(x: np.ndarray, centres: np.ndarray) -> float:
    d = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return float(d.min(1).sum())


@pytest.mark.parametrize("k", [5, 20])
def test_kmeanspp_potential_is_within_10_percent_of_scikit_learn(k):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 1.0, (60, 16)) for c in rng.normal(0, 6, (12, 16))])
    xt = torch.from_numpy(x).float()
    mine = np.mean([potential(x, x[ours(xt, k, gen(s)).numpy()]) for s in range(10)])
    theirs = np.mean([potential(x, kmeans_plusplus(x, k, random_state=s)[0]) for s in range(10)])
    assert mine <= 1.10 * theirs


def test_gradient_embeddings_are_the_last_layer_gradient():
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 4, bias=False)
    h = torch.randn(3, 6)
    logits = head(h)
    probs = torch.softmax(logits, 1)
    mine = gradient_embeddings(probs, h)
    for i in range(3):
        head.zero_grad()
        torch.nn.functional.cross_entropy(head(h[i : i + 1]), probs[i : i + 1].argmax(1)).backward()
        assert torch.allclose(mine[i], head.weight.grad.flatten(), atol=1e-6)


def covering_radius(x: torch.Tensor, centres: torch.Tensor) -> float:
    return float(torch.cdist(x, centres).min(1).values.max())


def test_k_center_greedy_without_a_labeled_set_keeps_its_random_first_centre():
    g = gen(3)
    pool = torch.randn(200, 5, generator=g)
    idx, dist = k_center_greedy(pool, pool[:0], 6, gen(11))
    assert len(idx) == len(set(idx.tolist())) == 6
    first = int(torch.randint(200, (1,), generator=gen(11)))
    assert int(idx[0]) == first and torch.isnan(dist[0])
    # The same picks as a greedy k-center started from that first pick (scikit-activeml's
    # CoreSet with an empty labeled set), so the same covering radius.
    greedy = [first]
    for _ in range(5):
        d = torch.cdist(pool, pool[greedy]).min(1).values
        greedy.append(int(d.argmax()))
    assert idx.tolist() == greedy
    assert covering_radius(pool, pool[idx]) == pytest.approx(covering_radius(pool, pool[greedy]))
