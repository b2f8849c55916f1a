"""A rich progress display for the loop: rounds, and epochs inside the current round."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from al4ml.config import ExperimentConfig
from al4ml.data import ActiveDataset
from al4ml.loop import LoopState, Observer, RoundRecord


class RichProgress(Observer):
    """Shows one bar for rounds (with the last test accuracy) and one for epochs.

    Use as a context manager around the loop's ``run``.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                                 TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=console or Console(stderr=True), transient=False)
        self._rounds = self.progress.add_task("rounds", total=None, info="")
        self._epochs = self.progress.add_task("epochs", total=None, info="")

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_start(self, cfg: ExperimentConfig, dataset: ActiveDataset, state: LoopState) -> None:
        """Size the rounds bar from the budget."""
        b = cfg.budget
        total = min(b.total, dataset.pool_size)
        rounds = 1 + max(0, -(-(total - b.initial) // b.per_round))
        self.progress.update(self._rounds, total=rounds, completed=len(state.history))

    def on_round_start(self, round_: int, n_labeled: int) -> None:
        """Label the epoch bar with the round's label count."""
        self.progress.update(self._epochs, completed=0, description=f"epochs ({n_labeled} labels)")

    def on_epoch(self, epoch: int, epochs: int) -> None:
        """Advance the epoch bar."""
        self.progress.update(self._epochs, completed=epoch, total=epochs)

    def on_round(self, record: RoundRecord, state: LoopState) -> None:
        """Advance the rounds bar and show the round's test accuracy."""
        acc = record.metrics.get("test_accuracy", float("nan"))
        self.progress.update(self._rounds, advance=1,
                             info=f"{record.n_labeled} labels: test acc {acc:.3f}")
