"""What the cycle produces and who is told: the loop state, round records and observers.

The loop owns a :class:`LoopState` per cell and tells observers what happened; observers
(MLflow tracking, progress displays) never steer. A *cell* is one experiment (one config);
a *cohort* is the set of cells trained together in lockstep (a single run is a cohort of
one), each held as a :class:`CohortMember`. :class:`CellObserver` hears about one cell;
:class:`CohortObserver` hears about the cohort's shared rounds and epochs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from al4ml.augment.policy import Policy
    from al4ml.config import ExperimentConfig, PolicyChoice
    from al4ml.data.base import ActiveDataset
    from al4ml.device import Execution
    from al4ml.models.classifier import Classifier
    from al4ml.oracle import SimulatedOracle
    from al4ml.search.problem import SearchResult


@dataclass
class RoundRecord:
    """What one round produced: metrics at ``n_labeled`` labels and the items it queried."""

    round: int
    n_labeled: int
    metrics: dict[str, float]
    queried: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    policy: dict[str, Any] | None = None
    """The augmentation the round's model trained with, where a search chooses it."""
    trials: list[dict[str, Any]] = field(default_factory=list)
    """The round's search trials (one row per candidate), where it searched."""


@dataclass
class LoopState:
    """One cell's whole state: enough to resume it after a crash.

    Attributes:
        labeled_round: int64 ``[N]``: round in which each pool item was labeled, -1 if not.
        labels: int64 ``[N]``: labels revealed by the oracle, -1 where unknown.
        history: One record per finished round.
    """

    labeled_round: torch.Tensor
    labels: torch.Tensor
    history: list[RoundRecord] = field(default_factory=list)

    @property
    def labeled_mask(self) -> torch.Tensor:
        """bool ``[N]``: which pool items are labeled."""
        return self.labeled_round >= 0

    @property
    def n_labeled(self) -> int:
        """Number of labeled pool items."""
        return int(self.labeled_mask.sum())

    def to_dict(self) -> dict[str, Any]:
        """A picklable snapshot (for ``torch.save``)."""
        return {
            "labeled_round": self.labeled_round.clone(),
            "labels": self.labels.clone(),
            "history": [vars(r) for r in self.history],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopState:
        """Inverse of :meth:`to_dict`."""
        return cls(d["labeled_round"], d["labels"], [RoundRecord(**r) for r in d["history"]])


class CellObserver:
    """Hears about one cell (all no-ops here; subclasses override what they need)."""

    def on_start(
        self, cfg: ExperimentConfig, dataset: ActiveDataset, state: LoopState, execution: Execution
    ) -> None:
        """Before the first round (after the initial set is labeled, or on resume); ``execution``
        is how the cohort trains and scores."""

    def on_round(self, record: RoundRecord, state: LoopState) -> None:
        """After a round's evaluation and query."""

    def on_finish(self, model: Classifier, state: LoopState) -> None:
        """After the last round, with the model trained at the full budget."""

    def on_fail(self, error: BaseException) -> None:
        """The cell failed (what it logged so far stays); it will hear nothing more."""


class CohortObserver:
    """Hears about the cohort's shared progress (all no-ops here)."""

    def on_data(self, summary: str) -> None:
        """Once, before anything trains: a one-line summary of the dataset."""

    def on_cohort_start(self, cells: int, rounds: int, done: int) -> None:
        """Before the first round: ``cells`` trained together, ``rounds`` in all, ``done`` already."""

    def on_round_start(self, round_: int, n_labeled: int) -> None:
        """Before training in a round."""

    def on_epoch(self, epoch: int, epochs: int) -> None:
        """After each training epoch."""

    def on_round_end(self, round_: int, records: list[RoundRecord]) -> None:
        """After every cell's evaluation and query in a round."""


class Deferred(CellObserver):
    """Runs another observer's calls in order on a background thread, so the loop never waits.

    Tracking writes (metrics, artifacts, the final model) overlap the next round's training.
    The state handed to :meth:`on_round` is snapshotted first, since the loop goes on
    changing it. An error in a background call is raised at the cell's next event (the loop
    then closes the cell) or by :meth:`wait`, and no later call but :meth:`on_fail` runs:
    a round whose metrics did not reach the store must not be followed by a FINISHED status.

    Args:
        observer: The observer to defer (e.g. an MLflow tracker).
        executor: One worker thread shared by the cohort's cells (keeps the order of calls).
    """

    def __init__(self, observer: CellObserver, executor: Executor) -> None:
        self.observer, self.executor = observer, executor
        self.pending: list[Future] = []
        self.failed = False

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        self.raise_errors()
        self.pending.append(self.executor.submit(self._unless_failed, fn, *args))

    def _unless_failed(self, fn: Callable[..., None], *args: Any) -> None:
        if self.failed:  # an earlier call failed: its error is raised; nothing after it runs
            return
        try:
            fn(*args)
        except BaseException:
            self.failed = True
            raise

    def raise_errors(self) -> None:
        """Raise the error of a finished background call, if any."""
        for future in [f for f in self.pending if f.done()]:
            self.pending.remove(future)
            future.result()

    def wait(self) -> None:
        """Block until every call so far has run; raise the first error."""
        for future in self.pending:
            future.result()
        self.pending.clear()

    def on_start(
        self, cfg: ExperimentConfig, dataset: ActiveDataset, state: LoopState, execution: Execution
    ) -> None:
        self._submit(self.observer.on_start, cfg, dataset, LoopState.from_dict(state.to_dict()), execution)

    def on_round(self, record: RoundRecord, state: LoopState) -> None:
        self._submit(self.observer.on_round, record, LoopState.from_dict(state.to_dict()))

    def on_finish(self, model: Classifier, state: LoopState) -> None:
        self._submit(self.observer.on_finish, model, LoopState.from_dict(state.to_dict()))

    def on_fail(self, error: BaseException) -> None:
        self.pending.append(self.executor.submit(self.observer.on_fail, error))


@dataclass
class CohortMember:
    """One experiment inside a cohort."""

    cfg: ExperimentConfig
    oracle: SimulatedOracle
    augment: Policy
    observers: tuple[CellObserver, ...] = ()
    state: LoopState | None = None
    error: BaseException | None = None
    member: Classifier | None = None
    policy: PolicyChoice | None = None
    """The augmentation a search chose last (``augmentation.search``)."""
    search: SearchResult | None = None
    """This round's search, if it searched."""
    views: Policy | None = None
    """The policy of the query's augmented views (``query.augmentation``; unset: ``augment``)."""

    @property
    def model(self) -> Classifier:
        """The module this round's trained member is loaded into (``train_round`` sets it)."""
        if self.member is None:
            raise RuntimeError(f"cell {self.cfg.name!r} has no model yet")
        return self.member

    @property
    def current(self) -> LoopState:
        """The cell's state, which ``initial_state`` or ``resume_state`` sets before round 0."""
        if self.state is None:
            raise RuntimeError(f"cell {self.cfg.name!r} has no loop state yet")
        return self.state

    def emit(self, event: str, *args: Any) -> None:
        """Tell this cell's observers."""
        for obs in self.observers:
            getattr(obs, event)(*args)
