def test_the_query_draws_its_views_with_its_own_policy(tracking_uri):
    """Views drawn with ``none`` are the image itself, so no item's views disagree (scores
    0): so it is when query.augmentation is ``none`` under a TrivialAugment training, and when
    it is unset under a training without augmentation; a strong query.augmentation under that
    same training makes them disagree."""
    from helpers import tiny_config

    from al4ml.experiment import run_experiment

    settings = {
        "query.strategy": "aug_consistency",
        "budget.total": 20,
        "query.aug_views": 3,
        "training.epochs": 10,
        "training.min_steps": 60,
    }

    def scores(**overrides: object) -> list[float]:
        result = run_experiment(tiny_config(**settings, **overrides), tracking_uri, progress=False)
        return [s for r in result.state.history for s in r.scores]

    assert (
        max(map(abs, scores(**{"augmentation.name": "trivialaugment", "query.augmentation": "{name: none}"})))
        < 1e-5
    )
    assert max(map(abs, scores())) < 1e-5
    assert max(scores(**{"query.augmentation": "{name: randaugment, params: {n: 3, m: 30}}"})) > 1e-2
