"""The config's sections as typed models: dataset, model, training, augmentation (and its
search), query, budget, oracle. Each rejects unknown keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def holdout_size(n: int, fraction: float) -> int:
    """Items of a labeled set of ``n`` that ``training.select: best_holdout`` holds out (>= 1)."""
    return max(1, round(n * fraction))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DatasetConfig(_Section):
    """Which dataset feeds the pool (``train`` split), ``val`` and ``test``."""

    name: str = "digits"
    root: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class ModelConfig(_Section):
    """Network architecture and its options (e.g. ``dropout``).

    ``name: timm:<architecture>`` is shorthand for ``name: timm`` with ``options.arch``
    (any model of timm's zoo, ``pip install -e ".[timm]"``).
    """

    name: str = "tiny_cnn"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _timm_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and str(data.get("name", "")).startswith("timm:"):
            data = dict(data)
            data["options"] = {**(data.get("options") or {}), "arch": data.pop("name")[5:]}
            data["name"] = "timm"
        return data


class TrainingConfig(_Section):
    """Per-round supervised training; defaults follow the seed study (Adam 1e-3, steps at 50/75 %).

    ``min_steps`` raises the epoch count of a round until it makes at least that many
    optimiser steps, so that tiny labeled sets (1 batch per epoch) are not under-trained;
    0 keeps the plain epoch count. ``cuda_graph`` (CUDA only, ignored on CPU; on by default
    where torch can replay a custom generator's draws) captures the whole training step,
    augmentation included, in a CUDA graph and replays it, which removes the per-kernel launch
    cost (ResNet-18 at 28 px, batch 512, H100: 2–12 % faster than eager); each epoch then uses
    equal batches of ``n // n_batches`` items, so up to ``n_batches - 1`` randomly chosen items
    sit an epoch out.
    ``compile`` (CUDA only, ignored on CPU) compiles the model's training forward and backward
    with ``torch.compile`` (fused BatchNorm/ReLU kernels: ResNet-18 at 28 px trains 1.3× as
    fast inside the CUDA graph on an H100; without the graph it was slower than eager on an
    H200); compiling costs seconds per new batch shape, so it pays off when rounds train on
    thousands of images.
    ``bf16`` runs training, scoring and evaluation under bf16 autocast on CUDA (off: fp32);
    ``eval_batch_size`` is the batch of scoring and evaluation.
    ``select``: ``last`` keeps the final epoch's model (the seed study's protocol);
    ``best_val`` keeps each model's epoch with the best validation AUC (the MedMNIST
    protocol), at the cost of one validation pass per epoch; that split's labels are free,
    which no expert's budget would be (Lüth et al., 2023). ``best_holdout`` pays for it:
    each round a seeded, stratified ``holdout`` fraction of the labeled set is held out of
    training and picks the epoch instead.
    """

    epochs: int = Field(100, ge=1)
    min_steps: int = Field(0, ge=0)
    batch_size: int = Field(128, ge=2)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    milestones: list[float] = Field(default_factory=lambda: [0.5, 0.75])
    gamma: float = Field(0.1, gt=0)
    eval_batch_size: int = Field(1024, ge=1)
    cuda_graph: bool = True
    compile: bool = False
    bf16: bool = True
    select: Literal["last", "best_val", "best_holdout"] = "last"
    holdout: float = Field(0.2, gt=0, lt=1)

    @field_validator("milestones")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(not 0 < m < 1 for m in v):
            raise ValueError(f"milestones are fractions of the epochs in (0, 1), got {v}")
        return sorted(v)


class PolicyChoice(_Section):
    """One candidate of a policy search: a registered augmentation and its options."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class RandAugmentGrid(_Section):
    """RandAugment's two numbers as a search space: every ``n`` with every ``m``."""

    n: list[Annotated[int, Field(ge=0, le=14)]] = Field(default_factory=lambda: [1, 2])
    m: list[Annotated[int, Field(ge=0, le=30)]] = Field(default_factory=lambda: [5, 15, 30])


SpaceName = Literal["standard", "wide"]


class TrivialAugmentGrid(_Section):
    """TrivialAugment's space as a search space: every magnitude ``space`` with every ``top``
    level (levels are drawn uniformly in ``[0, top]``)."""

    space: list[SpaceName] = Field(default_factory=lambda: list[SpaceName](["standard"]))
    top: list[Annotated[int, Field(ge=0, le=30)]] = Field(default_factory=lambda: [10, 20, 30])


class SearchConfig(_Section):
    """``augmentation.search``: choose the training policy every ``every`` rounds, on labeled data.

    Candidates: ``policies`` (named, with options), every RandAugment(n, m) of
    ``randaugment`` and every TrivialAugment(space, top) of ``trivialaugment``. ``method``
    (``al4ml list searches``): ``grid`` scores every candidate by stratified ``folds``-fold
    cross-validation on the labeled set (train on k - 1 folds with the candidate, accuracy on
    the held-out fold, never augmented); ``density`` trains one model per fold without
    augmentation and ranks candidates by that model's accuracy on its held-out fold augmented
    by each (Fast AutoAugment: no training per candidate); ``optuna`` samples ``trials``
    candidates with Optuna and prunes weak ones fold by fold (successive halving). Its options
    go in ``options``. ``validation``: ``labeled`` (a k-fold of the labeled set, paid for
    from the label budget) or ``official`` (the dataset's validation split: labels no budget
    paid for, for comparison with the uncounted protocol only). ``epochs``: of a candidate's
    training (default ``training.epochs``). ``stack``: train a search's models as one cohort
    (false: one at a time). The round's model then trains on all labeled data with the
    best candidate.
    """

    method: str = "grid"
    options: dict[str, Any] = Field(default_factory=dict)
    policies: list[PolicyChoice] = Field(default_factory=list)
    randaugment: RandAugmentGrid | None = None
    trivialaugment: TrivialAugmentGrid | None = None
    every: int = Field(1, ge=1, le=1000)
    folds: int = Field(3, ge=2, le=20)
    epochs: int | None = Field(None, ge=1, le=10_000)
    validation: Literal["labeled", "official"] = "labeled"
    stack: bool = True

    def families(self) -> list[tuple[str, list[PolicyChoice]]]:
        """The search space by family, in order: each named policy alone (``policies[i]``),
        then ``randaugment`` (n, m row by row), then ``trivialaugment`` (space, top)."""
        out: list[tuple[str, list[PolicyChoice]]] = [
            (f"policies[{i}]", [p]) for i, p in enumerate(self.policies)
        ]
        if self.randaugment is not None and self.randaugment.n and self.randaugment.m:
            out.append(
                (
                    "randaugment",
                    [
                        PolicyChoice(name="randaugment", params={"n": n, "m": m})
                        for n in self.randaugment.n
                        for m in self.randaugment.m
                    ],
                )
            )
        ta = self.trivialaugment
        if ta is not None and ta.space and ta.top:
            out.append(
                (
                    "trivialaugment",
                    [
                        PolicyChoice(name="trivialaugment", params={"space": sp, "top": top})
                        for sp in ta.space
                        for top in ta.top
                    ],
                )
            )
        return out

    def candidates(self) -> list[PolicyChoice]:
        """The search space, in order (see :meth:`families`)."""
        return [c for _, family in self.families() for c in family]


class AugmentationConfig(_Section):
    """Training-time augmentation policy (never applied when scoring the pool).

    With ``search`` set, ``name``/``params`` is only the fill's source; each round trains with
    the policy the last search chose (see :class:`SearchConfig`).
    """

    name: str = "none"
    params: dict[str, Any] = Field(default_factory=dict)
    search: SearchConfig | None = None


class QueryConfig(_Section):
    """The query strategy and its options; ``budget.per_round`` is how many it picks (k).

    ``strategy: modal:<module.function>`` is shorthand for ``strategy: modal`` with
    ``params.function``. ``mc_samples`` and ``aug_views`` size the inputs of strategies that
    need MC-dropout samples or augmented views. ``augmentation`` (a registered policy and its
    options) draws those views, apart from the training policy; unset, the views use the
    policy the round trained with.
    """

    strategy: str = "entropy"
    params: dict[str, Any] = Field(default_factory=dict)
    mc_samples: int = Field(20, ge=2, le=1000)
    aug_views: int = Field(8, ge=2, le=256)
    augmentation: PolicyChoice | None = None

    @model_validator(mode="before")
    @classmethod
    def _modal_shorthand(cls, data: Any) -> Any:
        from al4ml.query.modal import PREFIX

        if isinstance(data, dict) and str(data.get("strategy", "")).startswith(PREFIX):
            data = dict(data)
            function = data.pop("strategy")[len(PREFIX) :]
            data["strategy"] = "modal"
            data["params"] = {**(data.get("params") or {}), "function": function}
        return data


class BudgetConfig(_Section):
    """Label budget: random initial set, labels bought per round (k), and the total.

    ``unit: labels`` (default): ``total`` counts labels. ``unit: cost``: ``total`` is what the
    expert may be paid, in the units of ``oracle.cost``; ``initial`` and ``per_round`` still
    count the images sent to the expert at a time. A round buys at most what the rest of the
    budget surely pays (labels times the dearest label), so the spent cost never exceeds
    ``total``; the run ends when not one more label is surely affordable.
    """

    initial: int = Field(20, ge=2)
    per_round: int = Field(20, ge=1)
    total: int = Field(200, ge=2)
    unit: Literal["labels", "cost"] = "labels"

    @model_validator(mode="after")
    def _consistent(self) -> BudgetConfig:
        if self.unit == "labels" and self.total < self.initial:
            raise ValueError(f"total ({self.total}) must be >= initial ({self.initial})")
        return self


class NoiseConfig(_Section):
    """How the simulated expert errs (the true label still scores val and test).

    ``symmetric``: with probability ``rate`` the answer is another class, uniformly (on a
    multi-label set: each finding is flipped with probability ``rate``);
    ``asymmetric``: with probability ``rate`` it is the next class (``c + 1 mod C``), the
    pair-flip of the noisy-label literature; ``confusion``: the answer for true class ``c``
    is drawn from row ``c`` of ``matrix`` (``C x C``, rows sum to 1; ``rate`` unused). Each
    item's answer is drawn once per seed, so a resumed run hears the same answers.
    """

    rate: float = Field(0.0, ge=0, lt=1)
    kind: Literal["symmetric", "asymmetric", "confusion"] = "symmetric"
    matrix: list[list[float]] | None = None

    @model_validator(mode="after")
    def _matrix(self) -> NoiseConfig:
        if self.kind != "confusion":
            if self.matrix is not None:
                raise ValueError(f"matrix is for kind: confusion (kind is {self.kind!r})")
            return self
        m = self.matrix
        if not m or any(len(row) != len(m) for row in m):
            raise ValueError("kind: confusion needs a square matrix (one row per class)")
        bad = [i for i, row in enumerate(m) if min(row) < 0 or abs(sum(row) - 1) > 1e-6]
        if bad:
            raise ValueError(f"matrix row {bad[0]} must be probabilities that sum to 1, got {m[bad[0]]}")
        return self


class CostConfig(_Section):
    """What the expert charges per label.

    ``per_label``: the same price for every label. ``per_class``: the price of a label by the
    class the expert answered (one entry per class, e.g. a malignant case costs more to
    confirm); the loop only ever learns what it was charged for answers it received.
    """

    per_label: float = Field(1.0, gt=0)
    per_class: list[Annotated[float, Field(gt=0)]] | None = None

    @property
    def default(self) -> bool:
        """One unit per label: cost equals the number of labels."""
        return self.per_class is None and self.per_label == 1.0

    @property
    def dearest(self) -> float:
        """The highest price one label can have."""
        return max(self.per_class) if self.per_class else self.per_label

    @property
    def uniform(self) -> bool:
        """Every label costs the same (cells of a cohort then buy in lockstep)."""
        return self.per_class is None or len(set(self.per_class)) == 1


class OracleConfig(_Section):
    """The simulated expert: exact and one unit per label by default, or noisy
    (:class:`NoiseConfig`) and priced (:class:`CostConfig`)."""

    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    cost: CostConfig = Field(default_factory=CostConfig)
