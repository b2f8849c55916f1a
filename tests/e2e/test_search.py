"""The augmentation search inside the cycle: it finds what a planted dataset rewards, reads
only labeled data, is logged per round and reproduces."""

import csv
import io
from pathlib import Path

import pytest
import torch
from helpers import brightness_pool, search, tiny_config


@pytest.mark.parametrize("method", ["grid", "density", "optuna"])
def test_the_search_picks_a_label_keeping_policy_in_9_of_10_seeds(inverting_policy, method):
    # The destroying candidate comes first: a tie would pick it.
    chosen = [
        search(
            seed,
            [inverting_policy, {"name": "none"}, {"name": "trivialaugment"}],
            method=method,
            options={"trials": 4} if method == "optuna" else {},
        ).chosen.name
        for seed in range(10)
    ]
    assert sum(name != "test_invert" for name in chosen) >= 9, chosen


SEARCHED = {
    "augmentation.search": '{"policies": [{"name": "none"}, {"name": "trivialaugment"}], '
    '"randaugment": {"n": [2], "m": [5, 30]}, "every": 2, "folds": 2, '
    '"epochs": 2}',
    "budget.initial": 20,
    "budget.per_round": 10,
    "budget.total": 50,
    "training.epochs": 2,
}


def test_a_searched_run_logs_its_choices_per_round_and_resumes_to_the_same_ones(tracking_uri, tmp_path):
    from helpers import CrashAfter

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
        policies[0]["name"],
        policies[2]["name"],
    ]
    # Killed after round 2, resumed at round 3 (which keeps round 2's choice): the same
    # choices, queries and metrics as the uninterrupted run.
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(cfg, tracking_uri, progress=False, observers=(CrashAfter(2),))
    [crashed] = [
        r
        for r in client.search_runs([client.get_experiment_by_name("test").experiment_id])
        if r.info.status == "FAILED"
    ]
    resumed = run_experiment(cfg, tracking_uri, progress=False, resume_run_id=crashed.info.run_id)
    assert [r.policy for r in resumed.state.history] == policies
    assert [r.queried for r in resumed.state.history] == [r.queried for r in full.state.history]
    for name in ("test_accuracy", "aug_choice", "n_labeled"):
        ours = sorted((m.step, m.value) for m in client.get_metric_history(crashed.info.run_id, name))
        assert ours == sorted((m.step, m.value) for m in client.get_metric_history(full.run_id, name))


def poisoned_run(cfg, tracking_uri: str):
    """``cfg`` run twice: on digits, and on digits whose validation labels, test labels and
    pool labels the clean run never revealed are all wrong (another class, never the true one)."""
    from al4ml.data import create_dataset
    from al4ml.data.base import ActiveDataset, LabeledSplit
    from al4ml.experiment import run_experiment

    clean = run_experiment(cfg, tracking_uri, progress=False)
    revealed = clean.state.labeled_mask
    real = create_dataset("digits", None)
    pool_labels = real._pool_labels.clone()
    g = torch.Generator().manual_seed(7)

    def flip(y: torch.Tensor) -> torch.Tensor:
        return (y + 1 + torch.randint(0, 9, y.shape, generator=g)) % 10

    pool_labels[~revealed] = flip(pool_labels[~revealed])
    poisoned = ActiveDataset(
        real.info,
        real.pool_images,
        pool_labels,
        LabeledSplit(real.val.images, flip(real.val.labels)),
        LabeledSplit(real.test.images, flip(real.test.labels)),
    )
    return clean, run_experiment(cfg, tracking_uri, dataset=poisoned, progress=False)


def same_decisions(a, b) -> bool:
    """Every search choice, every trial's scores and every query of two runs agree."""
    return (
        [r.policy for r in a.state.history] == [r.policy for r in b.state.history]
        and [r.trials for r in a.state.history] == [r.trials for r in b.state.history]
        and [r.queried for r in a.state.history] == [r.queried for r in b.state.history]
    )


@pytest.mark.parametrize("method", ["grid", "density"])
def test_poisoned_validation_test_and_unrevealed_labels_change_no_choice_and_no_query(tracking_uri, method):
    """The search and the queries read only revealed labels: poison every other label and
    nothing they decide changes (the test metrics do, which shows the poison took)."""
    import json

    cfg = tiny_config(
        **{
            **SEARCHED,
            "augmentation.search": json.dumps(
                {**json.loads(SEARCHED["augmentation.search"]), "method": method}
            ),
        }
    )
    clean, dirty = poisoned_run(cfg, tracking_uri)
    assert same_decisions(clean, dirty)
    assert [r.metrics["test_accuracy"] for r in dirty.state.history] != [
        r.metrics["test_accuracy"] for r in clean.state.history
    ]


def test_the_poison_check_catches_a_search_that_reads_the_validation_split(tracking_uri):
    """The converse: with ``validation: official`` the search scores candidates on the
    validation split, so poisoning it changes the search's scores, and the same check fails."""
    import json

    cfg = tiny_config(
        **{
            **SEARCHED,
            "augmentation.search": json.dumps(
                {**json.loads(SEARCHED["augmentation.search"]), "validation": "official"}
            ),
        }
    )
    clean, dirty = poisoned_run(cfg, tracking_uri)
    assert not same_decisions(clean, dirty)
    assert [r.trials for r in dirty.state.history] != [r.trials for r in clean.state.history]


def brightness_dataset(seed: int = 0):
    """A planted task for whole runs: the class is the image's brightness (grey 80 or 170),
    so a policy that inverts images teaches every class as the other one."""
    from al4ml.data.base import ActiveDataset, DatasetInfo, LabeledSplit

    pool, pool_y = brightness_pool(160, seed)
    val, val_y = brightness_pool(40, seed + 100)
    test, test_y = brightness_pool(80, seed + 200)
    info = DatasetInfo("brightness", ("dark", "bright"), 1, (28, 28), source="test")
    return ActiveDataset(info, pool, pool_y, LabeledSplit(val, val_y), LabeledSplit(test, test_y))


def test_searched_runs_beat_the_label_destroying_policy_by_the_reports_own_test(
    inverting_policy, tracking_uri, tmp_path
):
    """Whole runs on the planted set, 10 seeds: the grid and density searches (whose space
    holds the inverting policy, first) beat a run fixed on it, paired over seeds and resolved
    by the report's t-test with Holm's correction; and each search chose a label-keeping
    policy in at least 9 of the 10 seeds."""
    import json

    from al4ml.experiment import run_experiment
    from al4ml.report import build_report
    from al4ml.tracking import get_client

    space = {
        "policies": [inverting_policy, {"name": "none"}, {"name": "trivialaugment"}],
        "folds": 2,
        "every": 3,
        "epochs": 2,
    }
    arms = {
        "fixed": {"augmentation.name": "test_invert"},
        "grid": {"augmentation.search": json.dumps({**space, "method": "grid"})},
        "density": {"augmentation.search": json.dumps({**space, "method": "density"})},
    }
    chosen: dict[str, list[str]] = {"grid": [], "density": []}
    for seed in range(10):
        for arm, overrides in arms.items():
            cfg = tiny_config(
                **overrides,
                seed=seed,
                name="planted",
                **{
                    "budget.initial": 10,
                    "budget.per_round": 10,
                    "budget.total": 30,
                    "training.epochs": 2,
                    "training.min_steps": 30,
                    "model.options.width": 4,
                },
            )
            result = run_experiment(cfg, tracking_uri, dataset=brightness_dataset(seed), progress=False)
            if arm in chosen:
                chosen[arm].append(result.state.history[0].policy["name"])
    for arm, names in chosen.items():
        assert sum(n != "test_invert" for n in names) >= 9, (arm, names)
    build_report(
        get_client(tracking_uri), "planted", tmp_path / "report", references={"augmentation": "test_invert"}
    )
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    verdicts = {c["cell"]: (c["verdict"], c["against"]) for c in summary["comparisons"]}
    assert verdicts == {
        "entropy+search:density": ("better", "entropy+test_invert"),
        "entropy+search:grid": ("better", "entropy+test_invert"),
    }, verdicts
    assert (tmp_path / "report" / "policies.png").exists()
    assert {c["label"]: c["validation"] for c in summary["cells"]} == {
        "entropy+search:density": "policy: labeled 2-fold (counted)",
        "entropy+search:grid": "policy: labeled 2-fold (counted)",
        "entropy+test_invert": "none",
    }


def test_a_run_killed_during_a_search_resumes_to_the_uninterrupted_choices(tmp_path):
    """SIGKILL in the middle of round 1's search (its models training), then ``--resume``:
    the same choices, trials, queries and metrics as a run that was never killed."""
    import yaml
    from helpers import al4ml, histories, kill_at, tiny_digits

    from al4ml.tracking import QUERIES_ARTIFACT, TRIALS_ARTIFACT, get_client

    config = tiny_digits(tmp_path, "searched", total=30)
    tree = yaml.safe_load(config.read_text())
    tree["training"].update(epochs=2, min_steps=10)
    tree["augmentation"]["search"] = {
        "policies": [{"name": "none"}, {"name": "trivialaugment"}],
        "folds": 2,
        "epochs": 1,
    }
    config.write_text(yaml.safe_dump(tree))
    reference = f"sqlite:///{tmp_path / 'ref.db'}"
    assert al4ml("run", str(config), "--tracking-uri", reference, "--no-progress").returncode == 0
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    kill_at(tmp_path, config, uri, "search")
    client = get_client(uri)
    [run] = client.search_runs([client.get_experiment_by_name("searched").experiment_id])
    # Killed in round 1's search: round 0 may or may not have reached the store (its writes
    # overlap the next round); either way the run is unfinished and resumes from what it saved.
    assert run.info.status == "RUNNING"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "aug_choice")] in ([], [10])
    resumed = al4ml("run", str(config), "--resume", run.info.run_id, "--tracking-uri", uri, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ref_client = get_client(reference)
    [ref] = ref_client.search_runs([ref_client.get_experiment_by_name("searched").experiment_id])
    ours, theirs = histories(client, run.info.run_id), histories(ref_client, ref.info.run_id)
    ours.pop("search_seconds")
    theirs.pop("search_seconds")
    assert ours == theirs and [s for s, _ in ours["aug_choice"]] == [10, 20, 30]
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    for artifact in (QUERIES_ARTIFACT, TRIALS_ARTIFACT):
        texts = [
            Path(c.download_artifacts(r, artifact, str(tmp_path / d))).read_text()
            for c, r, d in ((client, run.info.run_id, "a"), (ref_client, ref.info.run_id, "b"))
        ]
        assert texts[0] == texts[1], artifact
