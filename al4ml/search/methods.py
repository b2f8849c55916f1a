"""The registered search methods: ``grid``, ``density`` and ``optuna``.

Each is a plain function of a :class:`~al4ml.search.problem.SearchProblem` and its options
(the signature is the option schema, checked before a run starts); torch and Optuna are
imported inside the bodies, so validating a config stays light.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from al4ml.errors import ConfigError
from al4ml.search import register_search

if TYPE_CHECKING:
    from al4ml.config import SearchConfig
    from al4ml.search.problem import SearchProblem, SearchResult


@register_search("grid")
def grid(problem: SearchProblem) -> SearchResult:
    """Every candidate cross-validated; candidates x folds models train as one cohort."""
    from al4ml.search.problem import Member, Trial, best

    splits = problem.splits()
    k = len(splits)
    stacks = problem.fit(
        [Member(c, f, j * k + f) for j, c in enumerate(problem.candidates) for f in range(k)]
    )
    scores: list[list[float]] = [[] for _ in problem.candidates]
    for f, split in enumerate(splits):
        probs = problem.probs(stacks, split.images)
        for j in range(len(problem.candidates)):
            scores[j].append(problem.accuracy(probs[j * k + f], f))
    return best(
        [Trial(j, c.name, dict(c.params), scores[j]) for j, c in enumerate(problem.candidates)],
        problem.candidates,
    )


@register_search("density")
def density(problem: SearchProblem, views: Annotated[int, Field(ge=1, le=64)] = 4) -> SearchResult:
    """Fast AutoAugment: candidates ranked by fold models' accuracy on augmented held-out data.

    One model per fold trains without augmentation; a candidate scores that model's accuracy
    on its held-out fold augmented by the candidate (``views`` draws), so no model trains per
    candidate.
    """
    import torch

    from al4ml.augment import create_augmentation
    from al4ml.search.problem import NO_AUGMENTATION, Member, Trial, best

    splits = problem.splits()
    k = len(splits)
    stacks = problem.fit([Member(NO_AUGMENTATION, f, f) for f in range(k)])
    trials = []
    for j, c in enumerate(problem.candidates):
        policy = create_augmentation(c.name, **c.params)
        scores = []
        for f, split in enumerate(splits):
            g = torch.Generator(device=problem.execution.device).manual_seed(
                problem.seed("search_views", j * k + f)
            )
            drawn = torch.cat([policy(split.images, g) for _ in range(views)])
            probs = problem.probs(stacks, drawn)[f]
            m = len(split.images)
            scores.append(sum(problem.accuracy(probs[v * m : (v + 1) * m], f) for v in range(views)) / views)
        trials.append(Trial(j, c.name, dict(c.params), scores))
    return best(trials, problem.candidates)


def _optuna_installed(search: SearchConfig) -> None:
    if find_spec("optuna") is None:
        raise ConfigError(
            "augmentation.search.method: 'optuna' needs Optuna, which is not "
            "installed; pip install 'al4ml[search]' (or choose grid or density)"
        )


@register_search("optuna", check=_optuna_installed)
def optuna(
    problem: SearchProblem,
    trials: Annotated[int, Field(ge=1, le=10_000)] = 20,
    sampler: Literal["tpe", "random"] = "tpe",
    prune: bool = True,
) -> SearchResult:
    """Optuna (TPE or random sampler) tries ``trials`` candidates, pruning weak ones early.

    Successive halving prunes a trial fold by fold, so each trial's fold models train one at
    a time; a candidate sampled again is not trained again.
    """
    import optuna as op

    from al4ml.search.problem import Member, Trial, best

    op.logging.set_verbosity(op.logging.WARNING)
    seed = problem.seed("search_sampler", 0) % 2**32
    study = op.create_study(
        direction="maximize",
        sampler=(
            op.samplers.TPESampler(seed=seed) if sampler == "tpe" else op.samplers.RandomSampler(seed=seed)
        ),
        pruner=op.pruners.SuccessiveHalvingPruner(min_resource=1) if prune else op.pruners.NopPruner(),
    )
    splits = problem.splits()
    k = len(splits)
    done: dict[int, Trial] = {}

    def objective(t: Any) -> float:
        j = _suggest(t, problem)
        if j in done:  # a candidate drawn again is not trained again
            if done[j].pruned:
                raise op.TrialPruned()
            return done[j].score
        c = problem.candidates[j]
        trial = done[j] = Trial(j, c.name, dict(c.params), [])
        for f, split in enumerate(splits):
            [stack] = problem.fit([Member(c, f, j * k + f)])
            trial.fold_scores.append(problem.accuracy(problem.probs([stack], split.images)[0], f))
            t.report(trial.score, f)
            if f < k - 1 and t.should_prune():
                trial.pruned = True
                raise op.TrialPruned()
        return trial.score

    study.optimize(objective, n_trials=trials)
    return best(list(done.values()), problem.candidates)


def _suggest(t: Any, problem: SearchProblem) -> int:
    """An Optuna trial's candidate: its family first (a named policy, ``randaugment``,
    ``trivialaugment``), then each option that varies within the family, by value (a
    family is a full grid, so every combination is a candidate)."""
    families = dict(problem.families or [(str(j), [j]) for j in range(len(problem.candidates))])
    name = t.suggest_categorical("family", list(families))
    members = families[name]
    params = [problem.candidates[j].params for j in members]
    for key in sorted({k for p in params for k in p}):
        values = list(dict.fromkeys(p.get(key) for p in params))
        if len(values) > 1:
            pick = t.suggest_categorical(f"{name}.{key}", values)
            members = [j for j in members if problem.candidates[j].params.get(key) == pick]
    return members[0]
