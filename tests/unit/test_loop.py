import math

import pytest
import torch
from helpers import tiny_config, write_multilabel_npz

from al4ml.data import ActiveDataset, LabeledSplit, create_dataset
from al4ml.device import Execution
from al4ml.infer import predict
from al4ml.loop import ActiveLearningLoop
from al4ml.models.stack import StackedClassifier
from al4ml.query import strategies_for
from al4ml.query.uncertainty import entropy_scores
from al4ml.records import LoopState
from al4ml.seeds import derive_seed

CPU = torch.device("cpu")
TIMINGS = ("train_seconds", "query_seconds")


def curve(state: LoopState) -> list:
    return [
        (r.n_labeled, {k: v for k, v in r.metrics.items() if k not in TIMINGS}, r.queried)
        for r in state.history
    ]


def run(cfg, dataset=None):
    """One experiment (a cohort of one): its final model and state."""
    dataset = dataset or create_dataset("digits")
    [cell] = ActiveLearningLoop(cfg, dataset, CPU).run()
    if cell.error is not None:
        raise cell.error
    return cell.member, cell.state


def test_rounds_budget_and_state_bookkeeping(tiny_cfg):
    model, state = run(tiny_cfg)
    assert [r.n_labeled for r in state.history] == [10, 20, 30, 40]
    assert state.n_labeled == 40
    assert torch.bincount(state.labeled_round[state.labeled_mask]).tolist() == [10, 10, 10, 10]
    queried = [i for r in state.history for i in r.queried]
    assert len(queried) == len(set(queried)) == 30
    assert state.history[-1].queried == []
    for r in state.history[:-1]:
        assert (state.labeled_round[r.queried] == r.round + 1).all()
    assert (state.labels[~state.labeled_mask] == -1).all()


def test_same_seed_same_history_on_cpu(tiny_cfg):
    _, a = run(tiny_cfg)
    _, b = run(tiny_cfg)
    assert curve(a) == curve(b)
    _, c = run(tiny_config(seed=1))
    assert curve(a) != curve(c)


def test_unqueried_pool_labels_never_influence_the_run():
    cfg = tiny_config()
    _, first = run(cfg)
    base = create_dataset("digits")
    labels = base.hand_over_labels()
    never = ~first.labeled_mask
    changed = labels.clone()
    changed[never] = (labels[never] + 1 + torch.arange(int(never.sum())) % 9) % 10
    assert (changed[never] != labels[never]).all()
    tampered = ActiveDataset(base.info, base.pool_images, changed, base.val, base.test)
    _, second = run(cfg, tampered)
    assert curve(first) == curve(second)
    assert torch.equal(second.labeled_mask, first.labeled_mask)


def test_labels_of_queried_items_do_matter():
    # The converse check: the run does react to labels it was given (the test above can fail).
    cfg = tiny_config()
    _, first = run(cfg)
    base = create_dataset("digits")
    labels = base.hand_over_labels()
    changed = (labels + 1) % 10
    flipped = ActiveDataset(base.info, base.pool_images, changed, base.val, base.test)
    _, second = run(cfg, flipped)
    assert curve(first) != curve(second)


def test_pool_scoring_uses_unaugmented_images():
    cfg = tiny_config(
        **{
            "augmentation.name": "trivialaugment",
            "query.strategy": "entropy",
            "training.epochs": 20,
            "budget.initial": 60,
            "budget.total": 100,
        }
    )
    ds = create_dataset("digits")
    pool = ds.pool_images.clone()
    loop = ActiveLearningLoop(cfg, ds, CPU)
    [cell] = loop.cells
    calls = []
    policy = cell.augment
    draw = policy.draw

    def recording(b, h, w, g, d):
        calls.append(b)
        return draw(b, h, w, g, d)

    policy.draw = recording
    state = loop.initial_state(cell)
    stack = loop.train_round([cell], 0).stack
    n_training_calls = len(calls)
    assert n_training_calls > 0
    picked, scores = loop.query(cell, 0, stack, loop.score_pool(stack, [cell]), 0, 10)
    assert len(calls) == n_training_calls  # scoring never called the augmentation
    unlabeled = torch.nonzero(~state.labeled_mask).flatten()
    model = StackedClassifier([stack.member(0, cell.member)])
    plain = entropy_scores(predict(model, pool[unlabeled], Execution.of(CPU)).probs[0])
    expected = plain.topk(10).values
    assert torch.allclose(scores.sort(descending=True).values, expected, atol=1e-5)
    # Scores of augmented images differ, so the comparison above can tell them apart.
    views = policy(pool[unlabeled], torch.Generator().manual_seed(0))
    augmented = entropy_scores(predict(model, views, Execution.of(CPU)).probs[0])
    assert (augmented - plain).abs().max() > 0.05


def test_digits_run_with_trivialaugment_end_to_end():
    cfg = tiny_config(**{"augmentation.name": "trivialaugment"})
    _, state = run(cfg)
    assert [r.n_labeled for r in state.history] == [10, 20, 30, 40]


def test_budget_larger_than_pool_stops_at_the_pool():
    small = create_dataset("digits")
    idx = torch.arange(25)
    labels = small.hand_over_labels()[idx]
    ds = ActiveDataset(
        small.info,
        small.pool_images[idx],
        labels,
        LabeledSplit(small.val.images, small.val.labels),
        small.test,
    )
    _, state = run(tiny_config(**{"budget.total": 100}), ds)
    assert [r.n_labeled for r in state.history] == [10, 20, 25]


def test_seed_streams_differ_by_round_and_purpose():
    seeds = {derive_seed(0, r, p) for r in range(5) for p in ("init", "train", "query")}
    assert len(seeds) == 15
    # Known answers: a resumed run re-derives these in another process and must get the same.
    assert derive_seed(3, 2, "train") == 9189216989027431657
    assert derive_seed(0, 0, "initial_set") == 8227443069378110354


@pytest.mark.parametrize("strategy", strategies_for("multi-class"))
def test_every_strategy_runs_the_cycle_and_only_queries_unlabeled_items(strategy):
    cfg = tiny_config(
        **{
            "query.strategy": strategy,
            "budget.total": 30,
            "model.options.dropout": 0.3,
            "augmentation.name": "trivialaugment",
            "query.aug_views": 2,
            "query.mc_samples": 4,
        }
    )
    _, state = run(cfg)
    assert state.n_labeled == 30
    for r in state.history[:-1]:
        assert len(r.queried) == len(set(r.queried)) == 10
        # labeled in the round after the query, so they were unlabeled when picked
        assert (state.labeled_round[r.queried] == r.round + 1).all()
    _, again = run(cfg)
    assert curve(state) == curve(again)


def test_mc_strategies_need_dropout():
    from al4ml.errors import ConfigError

    with pytest.raises(ConfigError, match="model.options.dropout"):
        tiny_config(**{"query.strategy": "bald"})


COHORT = [
    tiny_config(**{"query.strategy": s, "seed": seed, "training.min_steps": 60})
    for s in ("entropy", "margin")
    for seed in (0, 1)
]


def run_cohort(cfgs, dataset=None):
    cells = ActiveLearningLoop(cfgs, dataset or create_dataset("digits"), CPU).run()
    for cell in cells:
        if cell.error is not None:
            raise cell.error
    return cells


def test_a_cohort_cell_gets_the_initial_set_and_initialisation_it_gets_alone():
    loop = ActiveLearningLoop(COHORT, create_dataset("digits"), CPU)
    for cell, cfg in zip(loop.cells, COHORT, strict=True):
        single = ActiveLearningLoop(cfg, create_dataset("digits"), CPU)
        [alone] = single.cells
        assert torch.equal(loop.initial_state(cell).labeled_round, single.initial_state(alone).labeled_round)
        for round_ in (0, 2):
            ours = loop.new_member(cell, round_).state_dict()
            theirs = single.new_member(alone, round_).state_dict()
            assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    firsts = [loop.new_member(c, 0).state_dict()["head.weight"] for c in loop.cells]
    assert not torch.equal(firsts[0], firsts[1])  # seeds 0 and 1 start differently


def test_cohort_cells_keep_their_own_labels_and_queries_and_learn_as_alone():
    cells = run_cohort(COHORT)
    fresh = ActiveLearningLoop(COHORT, create_dataset("digits"), CPU)
    for cell, start in zip(cells, fresh.cells, strict=True):
        state = cell.state
        initial = set(torch.nonzero(fresh.initial_state(start).labeled_mask).flatten().tolist())
        queried = [i for r in state.history for i in r.queried]
        assert len(queried) == len(set(queried)) == 30 and not initial & set(queried)
        # Labeled = its own initial set and its own queries, nothing another cell bought.
        assert set(torch.nonzero(state.labeled_mask).flatten().tolist()) == initial | set(queried)
        assert cell.oracle.labels_spent == state.n_labeled == 40
        assert (state.labels[~state.labeled_mask] == -1).all()
        for r in state.history[:-1]:
            assert (state.labeled_round[r.queried] == r.round + 1).all()
    assert len({tuple(sorted(i for r in c.state.history for i in r.queried)) for c in cells}) == 4
    # Grouped convolutions round differently from single ones, so trajectories drift apart
    # like runs on two machines; the cells still learn as much as the single runs do.
    final = [c.state.history[-1].metrics["test_accuracy"] for c in cells]
    alone = [run(cfg)[1].history[-1].metrics["test_accuracy"] for cfg in COHORT]
    assert min(alone) > 0.15  # they learn (10 classes)
    for ours in final:
        assert min(alone) - 0.05 <= ours <= max(alone) + 0.05, (final, alone)


def test_a_mixed_cohort_gives_each_cell_its_own_strategy_and_augmentation(monkeypatch):
    import al4ml.loop
    from al4ml.augment.policy import CohortAugment

    seen = []

    class Recording(CohortAugment):
        def __call__(self, x):
            out = super().__call__(x)
            seen.append((x.clone(), out.clone(), len(self.policies)))
            return out

    monkeypatch.setattr(al4ml.loop, "CohortAugment", Recording)
    cfgs = [
        tiny_config(**{"query.strategy": "random", "augmentation.name": "none"}),
        tiny_config(**{"query.strategy": "entropy", "augmentation.name": "trivialaugment"}),
    ]
    random_cell, entropy_cell = run_cohort(cfgs)
    # Random picks do not depend on the model: the cell's whole sequence is its single run's.
    _, alone = run(cfgs[0])
    assert [r.queried for r in random_cell.state.history] == [r.queried for r in alone.history]
    assert all(math.isnan(s) for r in random_cell.state.history for s in r.scores)
    scores = [s for r in entropy_cell.state.history for s in r.scores]
    assert scores and all(0 <= s <= math.log(10) + 1e-6 for s in scores)
    # Every training batch: the none cell's half comes back untouched, the other's changed.
    assert seen
    for x, out, k in seen:
        half = len(x) // k
        assert torch.equal(out[:half], x[:half])
    assert any(not torch.equal(out[half:], x[half:]) for x, out, _ in seen)


def test_a_noisy_oracle_feeds_the_loop_wrong_labels_and_the_run_counts_them():
    base = create_dataset("digits")
    truth = base.hand_over_labels()
    cfg = tiny_config(**{"oracle.noise.rate": 0.3, "budget.total": 60})
    assert cfg.cohort_key() == tiny_config(**{"budget.total": 60}).cohort_key()  # one cohort
    _, state = run(cfg)
    got = state.labels[state.labeled_mask]
    wrong = int((got != truth[state.labeled_mask]).sum())
    assert 0 < wrong < len(got)
    assert [r.metrics["oracle_wrong_labels"] for r in state.history][-1] == wrong
    counts = [r.metrics["oracle_wrong_labels"] for r in state.history]
    assert counts == sorted(counts)
    _, again = run(cfg)
    assert torch.equal(again.labels, state.labels)
    _, exact = run(tiny_config(**{"budget.total": 60}))
    assert "oracle_wrong_labels" not in exact.history[0].metrics


@pytest.mark.parametrize("data", ["digits", "breastmnist"])
def test_best_val_selection_keeps_the_best_validation_epoch(data, request):
    """Round 0 trains the same trajectory on the same labels either way; selection only picks
    an epoch of it, so its val AUC is at least the last epoch's (equal if it picked the last).
    Later rounds query with the selected model, so their labels differ."""
    sets = {"training.epochs": 6}
    dataset = None
    if data == "breastmnist":  # the real file, as the MedMNIST protocol's own data
        root = request.getfixturevalue("shared_data")
        sets.update(
            {"dataset.name": "medmnist", "dataset.root": str(root), "dataset.options.flag": "breastmnist"}
        )
        dataset = create_dataset("medmnist", root, flag="breastmnist")
    last_cfg = tiny_config(**sets)
    best_cfg = tiny_config(**sets, **{"training.select": "best_val"})
    _, last = run(last_cfg, dataset)
    if dataset is not None:
        dataset = create_dataset("medmnist", root, flag="breastmnist")  # a fresh oracle
    _, best = run(best_cfg, dataset)
    a, b = last.history[0], best.history[0]
    assert a.metrics["train_loss"] == b.metrics["train_loss"]  # one trajectory
    assert b.metrics["val_auc"] >= a.metrics["val_auc"]
    if b.metrics["selected_epoch"] == 6:
        assert b.metrics["test_accuracy"] == a.metrics["test_accuracy"]
    else:
        assert b.metrics["val_auc"] > a.metrics["val_auc"]
    assert all(1 <= r.metrics["selected_epoch"] <= 6 for r in best.history)
    assert "selected_epoch" not in a.metrics
    if data == "digits":
        _, again = run(best_cfg)
        assert curve(again) == curve(best)


@pytest.mark.parametrize("strategy", strategies_for("multi-label"))
def test_a_multi_label_chestmnist_cycle_with_each_multi_label_strategy(strategy, tmp_path):
    """ChestMNIST-shaped data through the medmnist class: BCE training, 3 rounds, and the
    logged test metrics are medmnist.Evaluator's on the final model's test scores."""
    import medmnist
    import numpy as np

    write_multilabel_npz(tmp_path / "chestmnist.npz")
    cfg = tiny_config(
        **{
            "dataset.name": "medmnist",
            "dataset.root": str(tmp_path),
            "dataset.options.flag": "chestmnist",
            "query.strategy": strategy,
            "budget.total": 30,
            "training.epochs": 8,
        }
    )
    dataset = create_dataset("medmnist", tmp_path, flag="chestmnist")
    test_images = dataset.test.images
    model, state = run(cfg, dataset)
    assert [r.n_labeled for r in state.history] == [10, 20, 30]
    labeled = state.labels[state.labeled_mask]
    assert labeled.shape == (30, 14) and set(labeled.unique().tolist()) <= {0, 1}
    assert (state.labels[~state.labeled_mask] == -1).all()
    for r in state.history[:-1]:
        assert len(set(r.queried)) == 10 and (state.labeled_round[r.queried] == r.round + 1).all()
    probs = predict(
        StackedClassifier([model]), test_images, Execution.of(CPU), task=dataset.info.label_task
    ).probs[0]
    expected = medmnist.Evaluator("chestmnist", "test", root=str(tmp_path)).evaluate(probs.numpy())
    last = state.history[-1].metrics
    assert last["test_auc"] == pytest.approx(expected.AUC, abs=1e-9)
    assert last["test_accuracy"] == pytest.approx(expected.ACC, abs=1e-9)
    assert last["test_auc"] > 0.6  # it learned the planted findings
    assert np.isfinite(last["train_loss"])
    _, again = run(cfg, create_dataset("medmnist", tmp_path, flag="chestmnist"))
    assert curve(again) == curve(state)


def test_a_cost_budget_stops_at_the_budget():
    """One price: rounds of 10 until the money left pays fewer; never past the budget."""
    cfg = tiny_config(**{"budget.unit": "cost", "budget.total": 61, "oracle.cost.per_label": 2.5})
    _, state = run(cfg)
    assert [(r.n_labeled, r.metrics["oracle_cost"]) for r in state.history] == [
        (10, 25.0),
        (20, 50.0),
        (24, 60.0),
    ]
    assert [len(r.queried) for r in state.history] == [10, 4, 0]


def test_a_per_class_cost_budget_never_overspends_and_bills_what_was_answered():
    prices = [1.0] * 9 + [5.0]
    cfg = tiny_config(**{"budget.unit": "cost", "budget.total": 60, "oracle.cost.per_class": prices})
    _, state = run(cfg)
    costs = [r.metrics["oracle_cost"] for r in state.history]
    assert costs == sorted(costs) and costs[-1] <= 60 and 60 - costs[-1] < 5
    answered = state.labels[state.labeled_mask]
    assert costs[-1] == sum(prices[a] for a in answered.tolist())
    for before, r in zip(state.history[:-1], state.history[1:], strict=True):  # buys what surely fits
        assert r.n_labeled - before.n_labeled == min(10, int((60 - before.metrics["oracle_cost"]) // 5))
    _, again = run(cfg)
    assert curve(again) == curve(state)


def test_cells_share_a_cohort_under_a_cost_budget_only_at_one_shared_price():
    def key(**sets):
        return tiny_config(**{"budget.unit": "cost", "budget.total": 100, **sets}).cohort_key()

    flat = {"oracle.cost.per_label": 2.0}
    assert key(**flat) == key(**flat, **{"query.strategy": "margin", "seed": 3})
    assert key(**flat) != key(**{"oracle.cost.per_label": 3.0})
    by_class = {"oracle.cost.per_class": [1.0] * 9 + [5.0]}
    assert key(**by_class) != key(**by_class, seed=1)
    assert key(**by_class) != key(**by_class, **{"query.strategy": "margin"})
    # counted in labels, prices are logged only: cells still share a cohort
    assert tiny_config(**by_class).cohort_key() == tiny_config(**by_class, seed=1).cohort_key()


def test_policies_with_and_without_options_share_a_cohort_and_a_fill_does_not():
    plain = tiny_config()  # augmentation none: no options at all (flat: augmentation.params = {})
    strong = tiny_config(**{"augmentation": '{"name": "randaugment", "params": {"n": 2, "m": 30}}'})
    assert plain.flat()["augmentation.params"] == "{}" and "augmentation.params" not in strong.flat()
    assert plain.cohort_key() == strong.cohort_key()
    filled = tiny_config(**{"augmentation": '{"name": "trivialaugment", "params": {"fill": 128}}'})
    assert filled.cohort_key() != plain.cohort_key()
