"""The simulated expert: the only holder of pool labels.

Nothing else in al4ml keeps a reference to the pool's ground truth. The loop learns a label
only by asking :meth:`SimulatedOracle.label` for it, and the oracle refuses anything a real
annotator would not be asked (out-of-range, repeated or already-labeled items). A noisy
oracle answers what an erring expert would (:class:`LabelNoise`); it alone knows which of its
answers were wrong, and says only how many (for logging, never for training). A priced
oracle (:class:`LabelCost`) bills each answer; the bill depends only on answers the loop
received, so it tells the loop nothing about labels it has not bought.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from al4ml.config import ExperimentConfig
from al4ml.errors import ConfigError, OracleError
from al4ml.seeds import derive_seed


@dataclass(frozen=True)
class LabelNoise:
    """An erring expert's answers: ``kind`` and ``rate`` as in ``oracle.noise`` of the config.

    Args:
        rate: Probability of a wrong answer (``symmetric``, ``asymmetric``).
        kind: ``symmetric`` (another class, uniformly), ``asymmetric`` (the next class) or
            ``confusion`` (row ``c`` of ``matrix`` for true class ``c``).
        matrix: ``C x C`` answer probabilities, for ``confusion``.
        seed: Seeds the draws: one answer per item and seed, whenever it is asked.
    """

    rate: float = 0.0
    kind: str = "symmetric"
    matrix: tuple[tuple[float, ...], ...] | None = None
    seed: int = 0

    @property
    def active(self) -> bool:
        """Whether any answer can be wrong."""
        return self.kind == "confusion" or self.rate > 0

    def answers(self, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
        """Every pool item's answer, drawn at once from the seed (CPU): ``[N]`` int64 class
        ids, or for multi-label ``[N, L]`` 0/1 labels each finding flipped with ``rate``."""
        g = torch.Generator().manual_seed(self.seed)
        n = len(labels)
        if labels.ndim == 2:
            if self.kind != "symmetric":
                raise ConfigError(
                    f"oracle.noise.kind {self.kind!r} has no multi-label meaning; "
                    "use symmetric (each finding flipped with probability rate)"
                )
            return labels ^ (torch.rand(labels.shape, generator=g) < self.rate).to(labels.dtype)
        if self.kind == "confusion":
            m = torch.tensor(self.matrix, dtype=torch.float64)
            if m.shape != (n_classes, n_classes):
                raise ConfigError(
                    f"oracle.noise.matrix is {m.shape[0]} x {m.shape[1]}; this "
                    f"dataset has {n_classes} classes"
                )
            return torch.multinomial(m[labels], 1, generator=g).flatten()
        flip = torch.rand(n, generator=g) < self.rate
        step = (
            torch.randint(1, n_classes, (n,), generator=g)
            if self.kind == "symmetric"
            else torch.ones(n, dtype=torch.int64)
        )
        return torch.where(flip, (labels + step) % n_classes, labels)


@dataclass(frozen=True)
class LabelCost:
    """The expert's prices (``oracle.cost`` of the config): one price, or one per answered class.

    Args:
        per_label: Price of any label.
        per_class: Price of a label by the class the expert answered (overrides ``per_label``).
    """

    per_label: float = 1.0
    per_class: tuple[float, ...] | None = None

    @property
    def dearest(self) -> float:
        """The highest price one label can have."""
        return max(self.per_class) if self.per_class else self.per_label

    @property
    def cheapest(self) -> float:
        """The lowest price one label can have."""
        return min(self.per_class) if self.per_class else self.per_label

    def of(self, answers: torch.Tensor) -> torch.Tensor:
        """Price of each answer: ``[k]`` float64 for answers ``[k]`` (or ``[k, L]`` findings)."""
        if self.per_class is None:
            return torch.full((len(answers),), self.per_label, dtype=torch.float64)
        return torch.tensor(self.per_class, dtype=torch.float64)[answers]


class SimulatedOracle:
    """Reveals ground-truth labels of queried pool items and counts the labels spent.

    Args:
        labels: Pool labels ``[N]`` (int64), or ``[N, L]`` 0/1 findings. The oracle keeps its
            own copy.
        n_classes: Number of classes (noisy answers range over them).
        noise: How it errs; exact when ``None``.
    """

    def __init__(
        self,
        labels: torch.Tensor,
        n_classes: int | None = None,
        noise: LabelNoise | None = None,
        cost: LabelCost | None = None,
    ) -> None:
        self.__labels = labels.detach().to("cpu", torch.int64).clone()
        self.__revealed = torch.zeros(len(self.__labels), dtype=torch.bool)
        self.cost = cost or LabelCost()
        if self.cost.per_class is not None:
            classes = n_classes or int(self.__labels.max()) + 1
            if self.__labels.ndim != 1:
                raise ConfigError(
                    "oracle.cost.per_class: a multi-label answer has no single class "
                    "to price; use oracle.cost.per_label"
                )
            if len(self.cost.per_class) != classes:
                raise ConfigError(
                    f"oracle.cost.per_class has {len(self.cost.per_class)} prices; "
                    f"this dataset has {classes} classes (one price per class)"
                )
        self.__spent = 0.0
        self.noisy = noise is not None and noise.active
        if noise is not None and self.noisy:
            classes = n_classes or int(self.__labels.max()) + 1
            self.__answers = noise.answers(self.__labels, classes)
        else:
            self.__answers = self.__labels

    @property
    def wrong_answers(self) -> int:
        """How many revealed answers differ from the truth (a multi-label answer: in any
        finding), for logging, never for training."""
        wrong = self.__answers[self.__revealed] != self.__labels[self.__revealed]
        return int(wrong.reshape(len(wrong), -1).any(1).sum())

    @property
    def pool_size(self) -> int:
        """Number of items in the pool."""
        return len(self.__labels)

    @property
    def labels_spent(self) -> int:
        """How many labels have been revealed so far."""
        return int(self.__revealed.sum())

    @property
    def spent(self) -> float:
        """What the expert has charged so far (:class:`LabelCost` of its answers)."""
        return self.__spent

    def label(self, indices: torch.Tensor) -> torch.Tensor:
        """Answer for ``indices`` ``[k]`` (pool positions): ``[k]`` (``[k, L]``) int64 labels
        (CPU), the expert's answers when it is noisy.

        Raises:
            OracleError: if an index is out of range, repeated in the query, or already labeled.
        """
        idx = torch.as_tensor(indices).detach().to("cpu", torch.int64).reshape(-1)
        n = self.pool_size
        bad = idx[(idx < 0) | (idx >= n)]
        if len(bad):
            raise OracleError(f"pool index {int(bad[0])} is out of range [0, {n})")
        if len(torch.unique(idx)) != len(idx):
            values, counts = torch.unique(idx, return_counts=True)
            raise OracleError(f"pool index {int(values[counts > 1][0])} is queried twice")
        again = idx[self.__revealed[idx]]
        if len(again):
            raise OracleError(f"pool index {int(again[0])} is already labeled")
        self.__revealed[idx] = True
        answers = self.__answers[idx].clone()
        self.__spent += float(self.cost.of(answers).sum())
        return answers


def oracle_of(cfg: ExperimentConfig, labels: torch.Tensor, n_classes: int) -> SimulatedOracle:
    """A cell's oracle over the pool ``labels``, as its ``oracle`` section says: noise seeded
    by the cell's seed (inactive at rate 0) and prices. Each oracle keeps its own copy."""
    n, c = cfg.oracle.noise, cfg.oracle.cost
    noise = LabelNoise(
        n.rate,
        n.kind,
        tuple(map(tuple, n.matrix)) if n.matrix else None,
        derive_seed(cfg.seed, 0, "oracle_noise"),
    )
    cost = LabelCost(c.per_label, tuple(c.per_class) if c.per_class else None)
    return SimulatedOracle(labels, n_classes, noise, cost)
