"""A whole experiment's config: its sections, the checks that span them, and its flat and
YAML forms (what every run logs)."""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from al4ml.config.sections import (
    AugmentationConfig,
    BudgetConfig,
    DatasetConfig,
    ModelConfig,
    OracleConfig,
    QueryConfig,
    TrainingConfig,
    _Section,
    holdout_size,
)
from al4ml.errors import ConfigError

COHORT_FREE = ("seed", "name", "query.", "augmentation.name", "augmentation.params", "oracle.")
"""Keys (prefixes) in which the cells of one cohort may differ (the fill of geometric ops
excepted); ``augmentation.params`` also covers a policy without options (flat: ``{}``)."""


class ExperimentConfig(_Section):
    """One active-learning experiment: the unit logged as one MLflow run."""

    name: str = "al4ml"
    seed: int = Field(0, ge=0, le=2**32 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    augmentation: AugmentationConfig = Field(default_factory=AugmentationConfig)
    query: QueryConfig = Field(default_factory=QueryConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    oracle: OracleConfig = Field(default_factory=OracleConfig)

    @model_validator(mode="after")
    def _registered(self) -> ExperimentConfig:
        """Names and options of every registry-backed section, then cross-section checks."""
        from al4ml.augment import AUGMENTATIONS
        from al4ml.data import DATASETS
        from al4ml.models import MODELS
        from al4ml.query import STRATEGIES

        for section, registry, name, options in (
            ("dataset", DATASETS, self.dataset.name, ("options", self.dataset.options)),
            ("model", MODELS, self.model.name, ("options", self.model.options)),
            ("augmentation", AUGMENTATIONS, self.augmentation.name, ("params", self.augmentation.params)),
            ("query", STRATEGIES, self.query.strategy, ("params", self.query.params)),
        ):
            key = "strategy" if section == "query" else "name"
            if name not in registry:
                raise ConfigError(f"{section}.{key}: {registry.unknown_message(name)}")
            registry.get(name).check(registry.kind, options[1], f"{section}.{options[0]}")
        if self.augmentation.search is not None:
            self._search_space(AUGMENTATIONS)
        if self.training.select == "best_holdout":
            held = holdout_size(self.budget.initial, self.training.holdout)
            if self.budget.initial - held < 2:
                raise ConfigError(
                    f"training.holdout: {self.training.holdout:g} of budget.initial "
                    f"({self.budget.initial}) leaves {self.budget.initial - held} "
                    "labeled item(s) to train on; lower it or raise budget.initial"
                )
        views = self.query.augmentation
        if views is not None:
            if views.name not in AUGMENTATIONS:
                raise ConfigError(f"query.augmentation.name: {AUGMENTATIONS.unknown_message(views.name)}")
            AUGMENTATIONS.get(views.name).check(AUGMENTATIONS.kind, views.params, "query.augmentation.params")
        needs = STRATEGIES.get(self.query.strategy).meta["needs"]
        if "mc_probs" in needs and float(self.model.options.get("dropout", 0.0)) <= 0:
            raise ConfigError(
                f"query.strategy: {self.query.strategy!r} needs MC-dropout samples; "
                "set model.options.dropout > 0 (e.g. 0.3)"
            )
        self._fits_task()
        budget, cost = self.budget, self.oracle.cost
        if budget.unit == "cost" and budget.initial * cost.dearest > budget.total:
            raise ConfigError(
                f"budget.total: {budget.total} (unit cost) does not surely pay for "
                f"the initial {budget.initial} labels at up to {cost.dearest:g} each "
                f"(needs >= {budget.initial * cost.dearest:g})"
            )
        return self

    def _search_space(self, registry: Any) -> None:
        """The method and its options exist; every candidate of ``augmentation.search`` exists,
        takes its options and shares the fill; the labeled set can be split."""
        from al4ml.search import SEARCHES

        search = self.augmentation.search
        if search is None:
            return
        if search.method not in SEARCHES:
            raise ConfigError(f"augmentation.search.method: {SEARCHES.unknown_message(search.method)}")
        SEARCHES.get(search.method).check(SEARCHES.kind, search.options, "augmentation.search.options")
        if not search.candidates():
            raise ConfigError(
                "augmentation.search: the search space is empty; list policies "
                "(policies: [{name: trivialaugment}, ...]), randaugment: "
                "{n: [1, 2], m: [5, 15, 30]} and/or trivialaugment: {top: [10, 30]}"
            )
        fill = float(self.augmentation.params.get("fill", 0.0))
        for label, family in search.families():
            where = f"augmentation.search.{label}"
            for choice in family:
                if choice.name not in registry:
                    raise ConfigError(f"{where}.name: {registry.unknown_message(choice.name)}")
                registry.get(choice.name).check(registry.kind, choice.params, f"{where}.params")
                if float(choice.params.get("fill", fill)) != fill:
                    raise ConfigError(
                        f"{where}.params.fill: {choice.params['fill']} differs from "
                        f"augmentation.params.fill ({fill:g}); candidates share the fill"
                    )
        if search.validation == "labeled" and self.budget.initial < 2 * search.folds:
            raise ConfigError(
                f"augmentation.search.folds: {search.folds} folds need at least "
                f"{2 * search.folds} labeled items, and budget.initial is "
                f"{self.budget.initial}; lower folds or raise budget.initial"
            )
        check = SEARCHES.get(search.method).meta.get("check")
        if check is not None:
            check(search)

    def _fits_task(self) -> None:
        """Strategy and oracle against the dataset's label kind (multi-label: ChestMNIST)."""
        from al4ml.data import dataset_task
        from al4ml.query import check_task
        from al4ml.task import MULTI_LABEL

        task = dataset_task(self.dataset.name, self.dataset.options)
        check_task(self.query.strategy, task)
        if task == MULTI_LABEL and self.oracle.cost.per_class:
            raise ConfigError(
                "oracle.cost.per_class: a multi-label answer has no single class to "
                "price; use oracle.cost.per_label"
            )
        noise = self.oracle.noise
        if task == MULTI_LABEL and noise.kind != "symmetric" and (noise.rate > 0 or noise.matrix):
            raise ConfigError(
                f"oracle.noise.kind: {noise.kind!r} has no multi-label meaning; a "
                "multi-label expert errs with kind: symmetric (each finding "
                "flipped with probability rate)"
            )

    def dump(self) -> dict[str, Any]:
        """The resolved config as a plain tree; ``augmentation.search`` and
        ``query.augmentation`` only where they are set (so that runs without them keep the
        params and hashes they always had)."""
        tree = self.model_dump(mode="json")
        if tree["augmentation"]["search"] is None:
            del tree["augmentation"]["search"]
        if tree["query"]["augmentation"] is None:
            del tree["query"]["augmentation"]
        return tree

    def flat(self) -> dict[str, str]:
        """The resolved config as ``{"a.b": "value"}`` (MLflow params)."""
        return flatten(self.dump())

    def cohort_key(self) -> str:
        """What cells must share to train as one cohort: everything but seed, name, query,
        oracle and augmentation (the ``fill`` of geometric ops stays shared).

        Cells of a cohort buy the same number of labels every round. Under a cost budget that
        holds when they share one uniform price; with prices per class each cell's spending
        depends on its own answers, so such a cell trains alone.
        """
        flat = self.flat()
        shared = {k: v for k, v in flat.items() if not k.startswith(COHORT_FREE) and k not in COHORT_FREE}
        shared["augmentation.params.fill"] = str(float(self.augmentation.params.get("fill", 0.0)))
        if self.budget.unit == "cost":
            shared.update({k: v for k, v in flat.items() if k.startswith("oracle.cost.")})
            if not self.oracle.cost.uniform:  # the whole config: no other cell shares it
                shared["alone"] = json.dumps(flat, sort_keys=True)
        return json.dumps(shared, sort_keys=True)

    def to_yaml(self) -> str:
        """The resolved config as YAML (logged as an artifact with every run)."""
        return yaml.safe_dump(self.dump(), sort_keys=False)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested dicts to dotted keys with string values."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = str(value)
    return out
