"""Writes that wait for the tracking store: a local journal, replayed in order, exactly once.

A run keeps training while its tracking store is unreachable (a stopped ``mlflow server``,
a lost network). :class:`Writer` sends each write (metrics, tags, an artifact, the final
status) to the store; when the store does not answer it says so in one line and appends the
write, in order, to the run's journal (``.al4ml/journal/<run id>/`` in the working
directory). At each later write, at most every few seconds, it asks the store again; once it
answers, the journal is replayed in order and the user is told in one line. Whatever is
still unsent when the run ends stays in the journal, and ``al4ml sync <journal>`` sends it
later. Replays are idempotent (a round's metrics are skipped if their step is already
stored, artifacts are overwritten), so a replay interrupted half-way sends nothing twice.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from al4ml.errors import ConfigError

JOURNAL_DIR = Path(".al4ml") / "journal"
PROBE_SECONDS = 5.0
UNREACHABLE = (
    "Max retries exceeded",
    "Connection refused",
    "Failed to establish",
    "Connection aborted",
    "Read timed out",
    "RemoteDisconnected",
    "Connection reset",
    "unable to open database file",
    "Name or service not known",
)


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the store could not be reached (rather than refused a write)."""
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in UNREACHABLE)


_offline: dict[str, bool] = {}


def notify(uri: str, offline: bool, detail: str = "") -> None:
    """One line on stderr when a store goes away or comes back (once per change, per process)."""
    if _offline.get(uri, False) == offline:
        return
    _offline[uri] = offline
    line = (
        f"tracking store {uri} is unreachable; training goes on and writes are kept in {detail}"
        if offline
        else f"tracking store {uri} answers again; {detail}"
    )
    sys.stderr.write(f"al4ml: {line}\n")
    sys.stderr.flush()


class Journal:
    """A run's pending writes on disk: ``meta.json``, ``ops.jsonl``, ``files/``, ``done``."""

    def __init__(self, folder: Path, tracking_uri: str | None = None, run_id: str | None = None) -> None:
        self.folder = folder
        meta = folder / "meta.json"
        if tracking_uri is not None and not meta.exists():
            (folder / "files").mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps({"tracking_uri": tracking_uri, "run_id": run_id}))
        try:
            info = json.loads(meta.read_text())
            self.tracking_uri, self.run_id = info["tracking_uri"], info["run_id"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(
                f"journal {folder}: {meta.name} is not readable ({type(e).__name__}: "
                f"{e}); it should be JSON with tracking_uri and run_id"
            ) from None

    def append(self, op: dict[str, Any], file: Path | None = None) -> None:
        """Add a write at the end (an artifact's file is copied in)."""
        seq = sum(1 for _ in self._lines())
        if file is not None:  # a folder per write: the artifact keeps its name
            stored = self.folder / "files" / str(seq) / file.name
            stored.parent.mkdir(parents=True)
            if file.is_dir():
                shutil.copytree(file, stored)
            else:
                shutil.copyfile(file, stored)
            op = {**op, "file": f"{seq}/{file.name}"}
        with (self.folder / "ops.jsonl").open("a") as f:
            f.write(json.dumps({"seq": seq, **op}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _lines(self) -> list[str]:
        path = self.folder / "ops.jsonl"
        return path.read_text().splitlines() if path.exists() else []

    def pending(self) -> list[dict[str, Any]]:
        """Writes not yet sent, in order."""
        path = self.folder / "done"
        done = set(path.read_text().split()) if path.exists() else set()
        ops = []
        for number, line in enumerate(self._lines(), 1):
            try:
                op = json.loads(line)
            except ValueError:
                raise ConfigError(
                    f"journal {self.folder}: line {number} of ops.jsonl is not JSON "
                    f"({line[:40]!r}); the writes from there on cannot be sent"
                ) from None
            if str(op["seq"]) not in done:
                ops.append(op)
        return ops

    def mark_done(self, seq: int) -> None:
        """Record that write ``seq`` reached the store."""
        with (self.folder / "done").open("a") as f:
            f.write(f"{seq}\n")
            f.flush()
            os.fsync(f.fileno())

    def replay(self, client: MlflowClient) -> int:
        """Send every pending write in order; the journal is removed once all are sent."""
        sent = 0
        for op in self.pending():
            apply(client, self.run_id, op, self.folder / "files")
            self.mark_done(op["seq"])
            sent += 1
        shutil.rmtree(self.folder, ignore_errors=True)
        return sent


def apply(client: MlflowClient, run_id: str, op: dict[str, Any], files: Path) -> None:
    """Send one write; sending it again changes nothing."""
    kind = op["op"]
    if kind == "metrics":
        metrics = [Metric(**m) for m in op["metrics"]]
        first = metrics[0]
        if any(m.step == first.step for m in client.get_metric_history(run_id, first.key)):
            return  # a round's metrics go in one batch: this one is stored already
        client.log_batch(run_id, metrics=metrics)
    elif kind == "tags":
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in op["tags"].items()])
    elif kind == "params":
        client.log_batch(run_id, params=[Param(k, v) for k, v in op["params"].items()])
    elif kind == "artifact":
        client.log_artifact(run_id, str(files / op["file"]), op.get("dir"))
    elif kind == "artifacts":  # a folder's content, at ``dir``
        client.log_artifacts(run_id, str(files / op["file"]), op.get("dir"))
    elif kind == "inputs":
        client.log_inputs(
            run_id,
            datasets=[
                DatasetInput(
                    Dataset(**{k: v for k, v in d.items() if k != "context"}),
                    [InputTag("mlflow.data.context", d["context"])],
                )
                for d in op["datasets"]
            ],
        )
    elif kind == "status":
        client.set_terminated(run_id, op["status"])
    else:
        raise ValueError(f"unknown journal entry {kind!r}")


class Writer:
    """One run's writes: to the store while it answers, to the run's journal while it does not.

    Args:
        client: Client of the run's store.
        run_id: The run.
        root: Where journals live (default ``.al4ml/journal`` in the working directory).
    """

    def __init__(self, client: MlflowClient, run_id: str, root: Path | None = None) -> None:
        self.client, self.run_id = client, run_id
        self.folder = (root or JOURNAL_DIR).resolve() / run_id
        self.journal: Journal | None = Journal(self.folder) if (self.folder / "meta.json").exists() else None
        self.last_probe = 0.0

    @property
    def offline(self) -> bool:
        """Whether writes are waiting in the journal."""
        return self.journal is not None

    def write(self, op: dict[str, Any], file: Path | None = None) -> None:
        """Send ``op`` (and ``file`` for an artifact) now, or keep it in order in the journal."""
        if self.journal is not None:
            self._try_replay()
        if self.journal is None:
            try:
                apply(
                    self.client,
                    self.run_id,
                    op if file is None else {**op, "file": file.name},
                    file.parent if file is not None else self.folder,
                )
                return
            except Exception as e:  # only an unreachable store is journaled; anything else raises
                if not unreachable(e):
                    raise
                self.journal = Journal(self.folder, self.client.tracking_uri, self.run_id)
                self.last_probe = time.monotonic()
                notify(self.client.tracking_uri, True, str(self.folder.parent))
        self.journal.append(op, file)

    def _try_replay(self, force: bool = False) -> None:
        if not force and time.monotonic() - self.last_probe < PROBE_SECONDS:
            return
        self.last_probe = time.monotonic()
        if self.journal is None:
            return
        try:
            self.client.get_run(self.run_id)
            sent = self.journal.replay(self.client)
        except Exception as e:  # still unreachable: keep journaling
            if not unreachable(e):
                raise
            return
        self.journal = None
        notify(self.client.tracking_uri, False, f"{sent} journaled write(s) sent")

    def close(self) -> bool:
        """At the end of the run: send what waits, or say how to send it later.

        Returns:
            True when nothing is left unsent.
        """
        if not self.offline:
            return True
        self._try_replay(force=True)
        if self.journal is not None:
            sys.stderr.write(
                f"al4ml: run {self.run_id}: {len(self.journal.pending())} write(s) could "
                f"not reach {self.client.tracking_uri}; send them later with: al4ml sync "
                f"{self.folder}\n"
            )
            sys.stderr.flush()
        return not self.offline
