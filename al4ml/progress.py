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

from al4ml.records import CohortObserver, RoundRecord
from al4ml.runs import COST_METRIC


class RoundLines(CohortObserver):
    """One plain line per finished round, for output that goes to a file or a pipe (where a
    live display shows nothing until the end): ``round 2: 60 labels, test acc 0.512``."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def on_data(self, summary: str) -> None:
        """Print the dataset's summary line."""
        self.console.print(summary, highlight=False, soft_wrap=True)

    def on_round_end(self, round_: int, records: list[RoundRecord]) -> None:
        """Print the round's label count and test accuracy (per cell in a cohort)."""
        if records:
            acc = ", ".join(f"{r.metrics.get('test_accuracy', float('nan')):.4f}" for r in records)
            self.console.print(
                f"round {round_}: {records[0].n_labeled} labels, test acc {acc}",
                highlight=False,
                soft_wrap=True,
            )


class RichProgress(CohortObserver):
    """Shows one bar for rounds (with the last test accuracy) and one for epochs.

    Use as a context manager around the loop's ``run``. For a cohort of several cells the
    accuracy shown is the range over the cells.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._rounds = self.progress.add_task("rounds", total=None, info="")
        self._epochs = self.progress.add_task("epochs", total=None, info="")

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_data(self, summary: str) -> None:
        """Print the dataset's summary line above the bars."""
        self.progress.console.print(summary, highlight=False, soft_wrap=True)

    def on_cohort_start(self, cells: int, rounds: int, done: int) -> None:
        """Size the rounds bar from the budget (under a cost budget, the most rounds it can
        last: the bar closes at the last round)."""
        what = "rounds" if cells == 1 else f"rounds ({cells} cells)"
        self.progress.update(self._rounds, total=rounds, completed=done, description=what)

    def on_round_start(self, round_: int, n_labeled: int) -> None:
        """Label the epoch bar with the round's label count."""
        self.progress.update(self._epochs, completed=0, description=f"epochs ({n_labeled} labels)")

    def on_epoch(self, epoch: int, epochs: int) -> None:
        """Advance the epoch bar."""
        self.progress.update(self._epochs, completed=epoch, total=epochs)

    def on_round_end(self, round_: int, records: list[RoundRecord]) -> None:
        """Advance the rounds bar and show the round's test accuracy."""
        acc = [r.metrics.get("test_accuracy", float("nan")) for r in records]
        if not acc:
            return
        shown = f"{acc[0]:.3f}" if len(acc) == 1 else f"{min(acc):.3f}-{max(acc):.3f}"
        cost = [r.metrics[COST_METRIC] for r in records if COST_METRIC in r.metrics]
        spent = f" (cost {max(cost):g})" if cost else ""
        self.progress.update(
            self._rounds, advance=1, info=f"{records[0].n_labeled} labels{spent}: test acc {shown}"
        )
        if not any(r.queried for r in records):  # the last round
            done = next(t.completed for t in self.progress.tasks if t.id == self._rounds)
            self.progress.update(self._rounds, total=done)
