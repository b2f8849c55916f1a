"""The cycle controller: train -> evaluate -> score the pool -> query k -> oracle labels them.

The loop runs a *cohort*: K cells (experiments) that share dataset, model and training
setup and advance in lockstep, round by round; a single run is a cohort of one. Each cell
owns its state (:class:`~al4ml.records.LoopState`: a labeled mask over the pool, the round
each item was labeled in, and the labels its own oracle revealed), its strategy and its
augmentation; the cohort shares the device-resident pool, one stacked network per round
and one scoring pass. Nothing else knows pool labels. Every random draw of a cell comes from
generators seeded by ``(seed, round, purpose)``, so a cell's initial set, model
initialisation, batch order, augmentations and query draws are those it would have alone,
a run is reproducible on CPU, and it can resume after a crash from its last saved state.

Observers are told what happened and never steer: :class:`~al4ml.records.CellObserver` s
(MLflow tracking) hear about their cell, :class:`~al4ml.records.CohortObserver` s (progress)
about the shared rounds and epochs. A cell whose query or observers fail is closed on its
own; the others go on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch

from al4ml.augment import create_augmentation
from al4ml.augment.policy import CohortAugment
from al4ml.budget import affordable, priced
from al4ml.config import ExperimentConfig, PolicyChoice
from al4ml.data.base import ActiveDataset
from al4ml.device import Execution
from al4ml.infer import Predictions, augmented_probs, mc_dropout_probs, metrics, predict
from al4ml.models import create_model
from al4ml.models.classifier import Classifier
from al4ml.models.stack import StackedClassifier
from al4ml.oracle import oracle_of
from al4ml.query import STRATEGIES, check_task, run_strategy
from al4ml.query.diversity import gradient_embeddings
from al4ml.query.modal import EmbeddingClassifier
from al4ml.records import CellObserver, CohortMember, CohortObserver, LoopState, RoundRecord
from al4ml.runs import COST_METRIC, WRONG_LABELS_METRIC
from al4ml.search import search_policy
from al4ml.search.problem import SearchProblem
from al4ml.seeds import derive_seed, generator
from al4ml.selection import holdout_rows, selector
from al4ml.train import fit


@dataclass(frozen=True)
class TrainedRound:
    """One round's training of a cohort: the (selected) models, each cell's last-epoch mean
    loss, wall seconds, and each cell's selected epoch (``training.select`` other than
    ``last``)."""

    stack: StackedClassifier
    train_loss: list[float]
    seconds: float
    selected_epochs: list[int] | None = None


class ActiveLearningLoop:
    """Runs a cohort of active-learning experiments in lockstep (one experiment: K = 1).

    Args:
        cfgs: The cells' validated configs; they must share their ``cohort_key()``.
        dataset: Pool + val + test; its pool labels go to one fresh oracle per cell here.
        device: Where data, training and scoring live (how: :class:`~al4ml.device.Execution`,
            decided here from the training config).
        observers: Per cell, the observers of that cell (tracking).
        cohort_observers: Observers of the shared rounds and epochs (progress).
    """

    def __init__(
        self,
        cfgs: list[ExperimentConfig] | ExperimentConfig,
        dataset: ActiveDataset,
        device: torch.device,
        observers: list[tuple[CellObserver, ...]] | None = None,
        cohort_observers: tuple[CohortObserver, ...] = (),
    ) -> None:
        cfgs = [cfgs] if isinstance(cfgs, ExperimentConfig) else list(cfgs)
        if len({c.cohort_key() for c in cfgs}) > 1:
            raise ValueError("the cells of a cohort must share dataset, model, training and budget")
        self.cfg = cfgs[0]
        self.execution = Execution.of(device, self.cfg.training)  # a config error, before any work
        self.task = dataset.info.label_task
        for cfg in cfgs:  # a plugin dataset may learn its task only when loaded
            check_task(cfg.query.strategy, self.task.kind)
        self.dataset, self.device = dataset, device
        self.cohort_observers = cohort_observers
        observers = observers or [() for _ in cfgs]
        labels = dataset.hand_over_labels()
        self.cells = [
            CohortMember(
                cfg,
                oracle_of(cfg, labels, dataset.info.num_classes),
                create_augmentation(cfg.augmentation.name, **cfg.augmentation.params),
                obs,
            )
            for cfg, obs in zip(cfgs, observers, strict=True)
        ]
        for cell in self.cells:
            views = cell.cfg.query.augmentation
            cell.views = create_augmentation(views.name, **views.params) if views else None
        self.pool = dataset.pool_images.to(device)
        self.val = (dataset.val.images.to(device), dataset.val.labels)
        self.test = (dataset.test.images.to(device), dataset.test.labels)

    def _emit(self, event: str, *args: Any) -> None:
        for obs in self.cohort_observers:
            getattr(obs, event)(*args)

    @staticmethod
    def _label(cell: CohortMember, pool_idx: torch.Tensor, round_: int) -> None:
        idx = pool_idx.cpu()
        cell.current.labels[idx] = cell.oracle.label(idx)
        cell.current.labeled_round[idx] = round_

    def initial_state(self, cell: CohortMember) -> LoopState:
        """A seeded random initial set of ``budget.initial`` items, labeled in round 0."""
        n = cell.oracle.pool_size
        shape = self.task.label_shape(self.dataset.info.num_classes)
        cell.state = LoopState(
            torch.full((n,), -1, dtype=torch.int64), torch.full((n, *shape), -1, dtype=torch.int64)
        )
        g = generator(derive_seed(cell.cfg.seed, 0, "initial_set"), torch.device("cpu"))
        self._label(cell, torch.randperm(n, generator=g)[: min(cell.cfg.budget.initial, n)], 0)
        return cell.state

    @staticmethod
    def resume_state(cell: CohortMember, state: LoopState) -> LoopState:
        """Re-buy a saved state's labels from the cell's oracle (they were paid before the crash)."""
        labeled = torch.nonzero(state.labeled_mask).flatten()
        state.labels[labeled] = cell.oracle.label(labeled)
        cell.state = state
        return state

    def new_member(self, cell: CohortMember, round_: int) -> Classifier:
        """The member's freshly initialised model for ``round_`` (seeded: the same as alone)."""
        return self.fresh_model(derive_seed(cell.cfg.seed, round_, "init"))

    def fresh_model(self, seed: int) -> Classifier:
        """A new model of the cohort's architecture, initialised from ``seed``, on the device."""
        torch.manual_seed(seed)
        info = self.dataset.info
        return self.execution.place(
            create_model(self.cfg.model.name, info.channels, info.num_classes, **self.cfg.model.options)
        )

    def choose_policy(self, cell: CohortMember, round_: int) -> None:
        """``augmentation.search``: search every ``every`` rounds (and wherever no choice is
        known), else keep the last choice (a resumed run reads it from its saved rounds)."""
        search = cell.cfg.augmentation.search
        cell.search = None
        if search is None:
            return
        if cell.policy is None and round_ % search.every and cell.current.history:
            last = cell.current.history[-1].policy
            cell.policy = PolicyChoice(**last) if last else None
        if cell.policy is None or round_ % search.every == 0:
            rows = torch.nonzero(cell.current.labeled_mask).flatten()
            seed = cell.cfg.seed
            problem = SearchProblem.of(
                search,
                cell.cfg.training,
                pool=self.pool,
                rows=rows.to(self.device),
                labels=cell.current.labels[rows],
                execution=self.execution,
                task=self.task,
                new_model=lambda j: self.fresh_model(derive_seed(seed, round_, "search_init", j)),
                seed=lambda purpose, j: derive_seed(seed, round_, purpose, j),
                val=self.val if search.validation == "official" else None,
            )
            cell.search = search_policy(search, problem)
            cell.policy = cell.search.chosen
        cell.augment = create_augmentation(cell.policy.name, **cell.policy.params)

    def train_round(self, cells: list[CohortMember], round_: int) -> TrainedRound:
        """Train the cells' fresh models together."""
        dev = self.device
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            for cell in cells:
                self.choose_policy(cell, round_)
            for cell in cells:
                cell.member = self.new_member(cell, round_)
            stack = StackedClassifier([c.model for c in cells], exact=self.execution.exact_cohorts)
            rows = torch.stack([torch.nonzero(c.current.labeled_mask).flatten() for c in cells])
            held = None
            if self.cfg.training.select == "best_holdout":
                rows, held = holdout_rows(cells, rows, self.cfg.training.holdout, round_)
            labels = torch.stack([c.current.labels[r] for c, r in zip(cells, rows, strict=True)])
            augment = CohortAugment(
                [c.augment for c in cells],
                [generator(derive_seed(c.cfg.seed, round_, "train"), dev) for c in cells],
            )
            best = selector(self.cfg.training, cells, self.pool, self.val, held, self.execution, self.task)
            result = fit(
                stack,
                self.pool,
                rows.to(dev),
                labels.to(dev),
                self.cfg.training,
                augment,
                self.execution,
                on_epoch=lambda e, n: self._emit("on_epoch", e, n),
                after_epoch=(lambda _: best.observe(stack)) if best else None,
                task=self.task,
            )
        if best is None:
            return TrainedRound(stack, result.train_loss, result.seconds)
        return TrainedRound(best.stack(), result.train_loss, result.seconds, best.epochs)

    def evaluate(self, stack: StackedClassifier) -> list[dict[str, float]]:
        """Val and test metrics of every cell's model, never augmented."""
        t = self.cfg.training
        out: list[dict[str, float]] = [{} for _ in range(stack.k)]
        for prefix, (images, labels) in (("val", self.val), ("test", self.test)):
            probs = predict(stack, images, self.execution, t.eval_batch_size, task=self.task).probs
            for k in range(stack.k):
                out[k].update(metrics(probs[k], labels, self.task).as_metrics(prefix))
        return out

    def score_pool(self, stack: StackedClassifier, cells: list[CohortMember]) -> Predictions | None:
        """The whole pool scored by every model (no augmentation), if any strategy needs it."""
        needs = {n for c in cells for n in STRATEGIES.get(c.cfg.query.strategy).meta["needs"]}
        if not needs - {"n"}:
            return None
        t = self.cfg.training
        return predict(stack, self.pool, self.execution, t.eval_batch_size, embeddings=True, task=self.task)

    def query(
        self,
        cell: CohortMember,
        k_model: int,
        stack: StackedClassifier,
        scored: Predictions | None,
        round_: int,
        k: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pick ``k`` of the cell's unlabeled pool items with the cell's strategy (and scores)."""
        state, q, dev = cell.current, cell.cfg.query, self.device
        unlabeled = torch.nonzero(~state.labeled_mask).flatten()
        labeled = torch.nonzero(state.labeled_mask).flatten()
        batch = self.cfg.training.eval_batch_size
        g = generator(derive_seed(cell.cfg.seed, round_, "query"), dev)

        @cache
        def model() -> Classifier:
            return stack.member(k_model, cell.model).eval()

        def rows(field: str, idx: torch.Tensor) -> torch.Tensor:
            """Model k's scores ``field`` (``probs`` or ``embeddings``) at pool rows ``idx``."""
            t = getattr(scored, field, None)
            if t is None:
                raise RuntimeError(f"strategy {q.strategy!r} needs the pool's {field}, not scored")
            return t[k_model][idx.to(t.device)]

        inputs: dict[str, Callable[[], Any]] = {
            "n": lambda: len(unlabeled),
            "probs": lambda: rows("probs", unlabeled),
            "embeddings": lambda: rows("embeddings", unlabeled),
            "labeled_embeddings": lambda: rows("embeddings", labeled),
            "mc_probs": lambda: mc_dropout_probs(model(), rows("embeddings", unlabeled), q.mc_samples, g),
            "grad_embeddings": lambda: gradient_embeddings(
                rows("probs", unlabeled), rows("embeddings", unlabeled), self.task
            ),
            "aug_probs": lambda: augmented_probs(
                model(),
                self.pool[unlabeled.to(dev)],
                cell.views or cell.augment,
                q.aug_views,
                g,
                self.execution,
                batch,
            ),
            "classifier": lambda: EmbeddingClassifier(
                model().head, rows("embeddings", labeled).float().cpu().numpy(), dev
            ),
        }
        picked, scores = run_strategy(q.strategy, k, g, inputs, q.params)
        return unlabeled[picked.cpu()], scores.detach().float().cpu()

    @staticmethod
    def _fail(cell: CohortMember, error: BaseException) -> None:
        """Close a failed cell: its error is kept; its observers are told once, best effort."""
        cell.error = error
        for obs in cell.observers:
            with contextlib.suppress(Exception):  # closing one cell must not stop the others
                obs.on_fail(error)

    def run(self, states: list[LoopState | None] | None = None) -> list[CohortMember]:
        """Run rounds until ``budget.total`` labels are spent (or the pool is exhausted).

        Args:
            states: Per cell, a saved state to resume from (``None``: a random initial set).
                All cells must be at the same round.

        Returns:
            The cells, with their final states, models and errors (``None`` where they
            finished).
        """
        budget = self.cfg.budget
        states = states or [None] * len(self.cells)
        for cell, saved in zip(self.cells, states, strict=True):
            self.initial_state(cell) if saved is None else self.resume_state(cell, saved)
        if len({(len(c.current.history), c.current.n_labeled) for c in self.cells}) > 1:
            raise ValueError("the cells of a cohort must resume from the same round")
        active = []
        for cell in self.cells:
            try:
                cell.emit("on_start", cell.cfg, self.dataset, cell.state, self.execution)
                active.append(cell)
            except Exception as e:  # one cell's tracker must not stop the others
                self._fail(cell, e)
        round_ = len(self.cells[0].current.history)
        n_labeled = self.cells[0].current.n_labeled
        oracle = self.cells[0].oracle
        total = min(
            oracle.pool_size,
            budget.total if budget.unit == "labels" else int(budget.total // oracle.cost.cheapest),
        )
        rounds = 1 + max(0, -(-(total - budget.initial) // budget.per_round))  # an upper bound
        self._emit("on_data", self.dataset.summary())
        self._emit("on_cohort_start", len(active), rounds, round_)
        while active:
            self._emit("on_round_start", round_, n_labeled)
            trained = self.train_round(active, round_)
            stack = trained.stack
            evals = self.evaluate(stack)
            ks = {
                min(budget.per_round, affordable(c.cfg.budget, c.oracle, c.current.n_labeled)) for c in active
            }
            if len(ks) > 1:
                raise RuntimeError(f"the cells of a cohort can afford different rounds: {sorted(ks)}")
            k = ks.pop()
            start = time.perf_counter()
            scored = self.score_pool(stack, active) if k > 0 else None
            shared_seconds = (time.perf_counter() - start) / len(active)
            records, still = [], []
            for i, cell in enumerate(active):
                try:
                    record = RoundRecord(
                        round_,
                        n_labeled,
                        {
                            **evals[i],
                            "train_loss": trained.train_loss[i],
                            "train_seconds": trained.seconds,
                            "n_labeled": float(n_labeled),
                        },
                    )
                    if trained.selected_epochs is not None:  # training.select: best_val, best_holdout
                        record.metrics["selected_epoch"] = float(trained.selected_epochs[i])
                    if cell.policy is not None:  # augmentation.search: what trained, and why
                        record.policy = cell.policy.model_dump()
                    if cell.search is not None:
                        record.metrics.update(cell.search.metrics())
                        record.trials = cell.search.rows(round_, n_labeled)
                    if cell.oracle.noisy:  # how many of the labels trained on were wrong
                        record.metrics[WRONG_LABELS_METRIC] = float(cell.oracle.wrong_answers)
                    if priced(cell.cfg):  # what the labels trained on cost
                        record.metrics[COST_METRIC] = cell.oracle.spent
                    start = time.perf_counter()
                    if k > 0:
                        picked, scores = self.query(cell, i, stack, scored, round_, k)
                        self._label(cell, picked, round_ + 1)
                        record.queried, record.scores = picked.tolist(), scores.tolist()
                    record.metrics["query_seconds"] = (
                        time.perf_counter() - start + shared_seconds if k > 0 else 0.0
                    )
                    cell.current.history.append(record)
                    cell.emit("on_round", record, cell.state)
                    if k <= 0:
                        cell.emit("on_finish", stack.member(i, cell.model), cell.state)
                    records.append(record)
                    still.append(cell)
                except Exception as e:  # a failing cell is closed; the rest go on
                    self._fail(cell, e)
            self._emit("on_round_end", round_, records)
            if k <= 0:
                break
            active, round_ = still, round_ + 1
            n_labeled = active[0].current.n_labeled if active else n_labeled
        return self.cells
