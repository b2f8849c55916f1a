"""The augmentation search inside the cycle: it finds what a planted dataset rewards, reads
only labeled data, is logged per round and reproduces."""

import csv
import io
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config

from al4ml.config import SearchConfig, TrainingConfig
from al4ml.errors import ConfigError
from al4ml.models import create_model
from al4ml.search import search_policy
from al4ml.task import Task

CPU = torch.device("cpu")


def brightness_pool(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The class is the image's brightness: grey 80 or 170, noise ±6."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(-6, 7, (n, 1, 28, 28)) + np.where(labels, 170, 80)[:, None, None, None]
    return torch.from_numpy(images.clip(0, 255).astype(np.uint8)), torch.from_numpy(labels)


@pytest.fixture
def inverting_policy():
    """A plugin policy that inverts every image (255 - x): on the brightness set it turns each
    class into the other, the label-destroying candidate a search must never pick."""
    from al4ml.augment import AUGMENTATIONS, register_augmentation
    from al4ml.augment.ops import OP_INDEX
    from al4ml.augment.policy import Policy

    @register_augmentation("test_invert")
    def test_invert() -> Policy:
        """Invert every image."""
        return Policy("test_invert", lambda b, h, w, g, d: [
            (torch.full((b,), OP_INDEX["invert"], device=d), torch.zeros(b, device=d))])

    yield {"name": "test_invert"}
    AUGMENTATIONS._entries.pop("test_invert")


def search(seed: int, candidates: list[dict]) -> object:
    pool, labels = brightness_pool(seed=seed)
    rows = torch.arange(40)  # the labeled part of the pool: 20 per class
    cfg = SearchConfig(policies=candidates, folds=4, epochs=2)
    training = TrainingConfig(epochs=2, min_steps=20, batch_size=16)

    def new_model(j: int) -> torch.nn.Module:
        torch.manual_seed(1000 * seed + j)
        return create_model("tiny_cnn", 1, 2, width=4)

    return search_policy(cfg, training, pool, rows, labels[rows], CPU, Task.of("multi-class"),
                         new_model, lambda purpose, j: zlib.crc32(f"{seed}/{purpose}/{j}".encode()))


@pytest.mark.slow
def test_the_search_picks_a_label_keeping_policy_in_9_of_10_seeds(inverting_policy):
    # The destroying candidate comes first: a tie would pick it.
    chosen = [search(seed, [inverting_policy, {"name": "none"}, {"name": "trivialaugment"}]).chosen.name
              for seed in range(10)]
    assert sum(name != "test_invert" for name in chosen) >= 9, chosen


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


@pytest.mark.parametrize("overrides, fragment", [
    ({"augmentation.search": {"policies": []}}, "the search space is empty"),
    ({"augmentation.search": {"policies": [{"name": "trivalaugment"}]}},
     "augmentation.search.policies[0].name: unknown augmentation 'trivalaugment'"),
    ({"augmentation.search": {"randaugment": {"n": [2], "m": [99]}}}, "augmentation.search.randaugment.m"),
    ({"augmentation.search": {"policies": [{"name": "none"}], "every": 0}}, "augmentation.search.every"),
    ({"augmentation.search": {"policies": [{"name": "none"}], "folds": 6}}, "6 folds need at least 12"),
    ({"augmentation.search": {"policies": [{"name": "randaugment", "params": {"fill": 9}}]}},
     "candidates share the fill"),
])
def test_a_bad_search_is_one_line(overrides, fragment):
    import json

    with pytest.raises(ConfigError) as e:
        tiny_config(**{k: json.dumps(v) for k, v in overrides.items()})
    assert fragment in str(e.value) and "\n" not in str(e.value), str(e.value)


SEARCHED = {"augmentation.search": '{"policies": [{"name": "none"}, {"name": "trivialaugment"}], '
                                   '"randaugment": {"n": [2], "m": [5, 30]}, "every": 2, "folds": 2, '
                                   '"epochs": 2}',
            "budget.initial": 20, "budget.per_round": 10, "budget.total": 50, "training.epochs": 2}


@pytest.mark.slow
def test_a_searched_run_logs_its_choices_per_round_and_resumes_to_the_same_ones(tracking_uri, tmp_path):
    from test_experiment import CrashAfter

    from al4ml.experiment import run_experiment
    from al4ml.tracking import TRIALS_ARTIFACT, get_client

    cfg = tiny_config(**SEARCHED)
    full = run_experiment(cfg, tracking_uri, progress=False)
    client = get_client(tracking_uri)
    policies = [r.policy for r in full.state.history]
    assert all(p is not None for p in policies)
    choice = client.get_metric_history(full.run_id, "aug_choice")
    assert sorted(m.step for m in choice) == [20, 40]  # rounds 0 and 2 search (every: 2)
    assert sorted(m.step for m in client.get_metric_history(full.run_id, "search_seconds")) == [20, 40]
    path = client.download_artifacts(full.run_id, TRIALS_ARTIFACT, str(tmp_path))
    trials = list(csv.DictReader(io.StringIO(Path(path).read_text())))
    assert len(trials) == 2 * 4 and {t["round"] for t in trials} == {"0", "2"}
    assert [t["policy"] for t in trials if t["chosen"] == "True"] == [
        policies[0]["name"], policies[2]["name"]]
    # Killed after round 2, resumed at round 3 (which keeps round 2's choice): the same
    # choices, queries and metrics as the uninterrupted run.
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(cfg, tracking_uri, progress=False, observers=(CrashAfter(2),))
    [crashed] = [r for r in client.search_runs([client.get_experiment_by_name("test").experiment_id])
                 if r.info.status == "FAILED"]
    resumed = run_experiment(cfg, tracking_uri, progress=False, resume_run_id=crashed.info.run_id)
    assert [r.policy for r in resumed.state.history] == policies
    assert [r.queried for r in resumed.state.history] == [r.queried for r in full.state.history]
    for name in ("test_accuracy", "aug_choice", "n_labeled"):
        ours = sorted((m.step, m.value) for m in client.get_metric_history(crashed.info.run_id, name))
        assert ours == sorted((m.step, m.value) for m in client.get_metric_history(full.run_id, name))


@pytest.mark.slow
def test_poisoned_validation_test_and_unrevealed_labels_change_no_choice_and_no_query(tracking_uri):
    """The search and the queries read only revealed labels: poison every other label and
    nothing they decide changes (the test metrics do, which shows the poison took)."""
    from al4ml.data import create_dataset
    from al4ml.data.base import ActiveDataset, LabeledSplit
    from al4ml.experiment import run_experiment

    cfg = tiny_config(**SEARCHED)
    clean = run_experiment(cfg, tracking_uri, progress=False)
    revealed = clean.state.labeled_mask
    real = create_dataset("digits", None)
    pool_labels = real._pool_labels.clone()
    g = torch.Generator().manual_seed(7)

    def flip(y: torch.Tensor) -> torch.Tensor:  # another class, never the true one
        return (y + 1 + torch.randint(0, 9, y.shape, generator=g)) % 10

    pool_labels[~revealed] = flip(pool_labels[~revealed])
    poisoned = ActiveDataset(real.info, real.pool_images, pool_labels,
                             LabeledSplit(real.val.images, flip(real.val.labels)),
                             LabeledSplit(real.test.images, flip(real.test.labels)))
    dirty = run_experiment(cfg, tracking_uri, dataset=poisoned, progress=False)
    assert [r.policy for r in dirty.state.history] == [r.policy for r in clean.state.history]
    assert [r.trials for r in dirty.state.history] == [r.trials for r in clean.state.history]
    assert [r.queried for r in dirty.state.history] == [r.queried for r in clean.state.history]
    assert [r.metrics["test_accuracy"] for r in dirty.state.history] != [
        r.metrics["test_accuracy"] for r in clean.state.history]
