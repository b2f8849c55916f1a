"""Reading results: ``al4ml report``, ``runs``, ``sync``, ``list`` and ``ui``."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from al4ml.cli.app import (
    JsonOption,
    TrackingOption,
    _assignment,
    _fmt,
    app,
    console,
    fail,
)
from al4ml.errors import Al4mlError
from al4ml.runs import check_x_axis
from al4ml.store import check_store, existing_store, resolve_tracking_uri


@app.command()
def report(
    source: Annotated[
        str,
        typer.Argument(
            metavar="GRID_RUN_ID|EXPERIMENT", help="A grid's parent run id, or an experiment name."
        ),
    ],
    tracking_uri: TrackingOption = None,
    out: Annotated[Path, typer.Option(help="Folder for the report files.")] = Path("report"),
    target: Annotated[float, typer.Option(min=0, max=1, help="Target test accuracy.")] = 0.9,
    x: Annotated[
        str,
        typer.Option("--x", help="Budget axis: labels, or cost (the spent cost of runs with oracle.cost)."),
    ] = "labels",
    reference: Annotated[
        list[str] | None,
        typer.Option(
            metavar="AXIS=VALUE",
            help="Compare each axis against this value instead of its default (strategy random, "
            "augmentation none, else the first value), e.g. --reference augmentation=trivialaugment; "
            "repeatable.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Learning curves with 95 % bands, AULC table, labels to target, paired comparisons.

    Writes report.md, report.html, PNG plots, aulc.csv, comparisons.csv and summary.json
    into --out (for a grid also logged to its parent run); --json prints summary.json.
    """
    from al4ml.errors import ConfigError

    try:
        check_x_axis(x)  # these before MLflow and SciPy are imported: no seconds lost
        references = dict(_assignment(r, "--reference") for r in reference or [])
        uri = existing_store(resolve_tracking_uri(tracking_uri))
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: is a file; the report needs a folder (new or existing)")
        from al4ml.report import build_report
        from al4ml.tracking import get_client

        md = build_report(get_client(uri), source, out, target, x=x, references=references)
    except Al4mlError as e:
        raise fail(str(e)) from None
    if as_json:
        print((out / "summary.json").read_text())
    else:
        extra = ", sequential.csv" if (out / "sequential.csv").is_file() else ""
        console.print(
            f"wrote {md} (and report.html, PNG plots, aulc.csv, comparisons.csv{extra}, "
            f"summary.json) in {out}",
            highlight=False,
        )


class Status(str, Enum):
    """MLflow run statuses ``al4ml runs --status`` filters by."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


@app.command("runs")
def runs_(
    experiment: Annotated[
        str | None, typer.Argument(help="An experiment name (default: every experiment).")
    ] = None,
    tracking_uri: TrackingOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs, newest first.")] = 50,
    status: Annotated[Status | None, typer.Option(help="Only runs with this status.")] = None,
    grid: Annotated[
        str | None,
        typer.Option(metavar="GRID_RUN_ID", help="Only the cells of this grid (its parent run id)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the runs of a store, newest first, with the ids that resume and report take.

    Each run's id, name, role, status, labels reached and last test accuracy.

    Example: al4ml runs digits_quickstart --tracking-uri sqlite:///mlruns.db
    """
    from al4ml.errors import ConfigError

    try:
        uri = existing_store(resolve_tracking_uri(tracking_uri))
        from al4ml.tracking import get_client

        client = get_client(uri)
        experiments = {e.experiment_id: e.name for e in client.search_experiments()}
        if experiment is not None and experiment not in experiments.values():
            raise ConfigError(
                f"no experiment {experiment!r} in {uri}; it has: "
                f"{', '.join(sorted(experiments.values())) or 'none'}"
            )
        ids = [i for i, name in experiments.items() if experiment in (None, name)]
        where = [f"attributes.status = '{status.value}'"] if status else []
        if grid is not None:
            where.append(f"tags.mlflow.parentRunId = '{grid}'")
        found = client.search_runs(
            ids, " and ".join(where), order_by=["attributes.start_time DESC"], max_results=limit
        )
    except Al4mlError as e:
        raise fail(str(e)) from None
    rows = [
        {
            "run_id": r.info.run_id,
            "experiment": experiments.get(r.info.experiment_id, "?"),
            "name": r.info.run_name,
            "role": r.data.tags.get("al4ml.role", ""),
            "status": r.info.status,
            "labels": r.data.metrics.get("n_labeled"),
            "test_accuracy": r.data.metrics.get("test_accuracy"),
        }
        for r in found
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"runs in {uri}" + (f", experiment {experiment}" if experiment else ""))
    for col in ("run id", "experiment", "name", "role", "status", "labels", "test acc"):
        table.add_column(col, no_wrap=col == "run id")
    for r in rows:
        table.add_row(
            r["run_id"],
            r["experiment"],
            r["name"],
            r["role"],
            r["status"],
            _fmt(r["labels"], 0),
            _fmt(r["test_accuracy"]),
        )
    console.print(table)


@app.command()
def sync(
    journals: Annotated[
        list[Path],
        typer.Argument(
            metavar="JOURNAL...", help="A run's journal (.al4ml/journal/<run id>) or a folder of journals."
        ),
    ],
) -> None:
    """Send the writes runs kept in their journals while the tracking store was unreachable.

    Each journal remembers its store and run; its writes are sent in order, none twice, and
    the journal is removed once everything arrived.

    Example: al4ml sync .al4ml/journal
    """
    from al4ml.errors import ConfigError

    found = [
        j
        for path in journals
        for j in ([path] if (path / "meta.json").is_file() else sorted(path.glob("*/meta.json")))
    ]
    found = [j.parent if j.name == "meta.json" else j for j in found]
    try:
        if not found:
            raise ConfigError(
                f"no run journal in {', '.join(map(str, journals))} (a journal is a "
                "folder .al4ml/journal/<run id> holding meta.json)"
            )
        from al4ml.journal import Journal
        from al4ml.tracking import get_client

        for folder in found:
            journal = Journal(folder)
            sent = journal.replay(get_client(journal.tracking_uri))
            console.print(
                f"run {journal.run_id}: {sent} write(s) sent to {journal.tracking_uri}", highlight=False
            )
    except Al4mlError as e:
        raise fail(str(e)) from None


class Kind(str, Enum):
    """What ``al4ml list`` can show."""

    strategies = "strategies"
    augmentations = "augmentations"
    datasets = "datasets"
    models = "models"
    searches = "searches"


@app.command("list")
def list_(
    kind: Annotated[
        Kind | None,
        typer.Argument(help="strategies, augmentations, datasets, models or searches (default: all)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List what is registered (strategies, augmentations, datasets, models, searches).

    Each entry's name, description and options; searches are the augmentation.search methods.
    """
    from al4ml.augment import AUGMENTATIONS
    from al4ml.data import DATASETS
    from al4ml.models import MODELS
    from al4ml.query import STRATEGIES
    from al4ml.search import SEARCHES

    registries = {
        Kind.strategies: STRATEGIES,
        Kind.augmentations: AUGMENTATIONS,
        Kind.datasets: DATASETS,
        Kind.models: MODELS,
        Kind.searches: SEARCHES,
    }
    kinds = [kind] if kind else list(Kind)
    if as_json:
        print(
            json.dumps(
                {
                    k.value: [
                        {
                            "name": e.name,
                            "description": e.description,
                            "options": {
                                name: {
                                    "default": None if p.default is p.empty else p.default,
                                    "values": e.describe(name),
                                }
                                for name, p in e.options.items()
                            },
                            **({"needs": list(e.meta["needs"])} if "needs" in e.meta else {}),
                            **({"labels": list(e.meta["tasks"])} if "tasks" in e.meta else {}),
                        }
                        for e in registries[k].entries()
                    ]
                    for k in kinds
                },
                indent=2,
                default=str,
            )
        )
        return
    for k in kinds:
        table = Table(title=k.value)
        # Names are what users type: never cut, whatever the width (the description wraps).
        table.add_column(
            "name",
            style="bold",
            no_wrap=True,
            min_width=max((len(e.name) for e in registries[k].entries()), default=4),
        )
        table.add_column("description")
        table.add_column("options")
        labels = k == Kind.strategies
        if labels:
            table.add_column("labels")
        for entry in registries[k].entries():
            table.add_row(
                entry.name,
                entry.description,
                ", ".join(entry.options),
                *([", ".join(entry.meta["tasks"])] if labels else []),
            )
        console.print(table)


@app.command()
def ui(
    tracking_uri: TrackingOption = None,
    port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000,
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0: every interface).")] = "127.0.0.1",
    allowed_hosts: Annotated[
        str | None,
        typer.Option(
            help="Host headers the UI accepts, comma-separated (needed with --host 0.0.0.0 when "
            "browsers reach it by a name or an outside address)."
        ),
    ] = None,
) -> None:
    """Start the MLflow UI on the same store `al4ml run` logs to (Ctrl+C or SIGTERM stops it).

    For a tracking server (http/https) the server is the UI: its links are printed and
    nothing is started.
    """
    import signal
    import socket
    import time

    try:
        uri = existing_store(resolve_tracking_uri(tracking_uri))
        if uri.startswith(("http://", "https://")):
            check_store(uri)  # one line if it does not answer
            _print_links(uri, uri.rstrip("/"), f"{uri} is a tracking server, and its UI: nothing to start")
            return
        with socket.socket() as probe:
            # As the server will bind: a listener makes the port busy, a closed connection
            # still in TIME_WAIT (a UI stopped a moment ago) does not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as e:
                raise fail(f"port {port} on {host} is not free ({e.strerror}); pass another --port") from None
    except Al4mlError as e:
        raise fail(str(e)) from None
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        *(["--allowed-hosts", allowed_hosts] if allowed_hosts else []),
    ]
    # MLflow's server also starts a job runner for its GenAI features (eight more processes,
    # ~20 s of CPU to start); browsing runs needs none of it. Set the variable to keep it.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    proc = subprocess.Popen(cmd, start_new_session=True, env=env)
    stopping: list[float] = []

    def stop(*_: object) -> None:  # signal handler: only signal, never wait (the main loop does)
        stopping.append(time.monotonic())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    base = f"http://{shown}:{port}"
    _print_links(uri, base, f"MLflow UI for {uri} on {base} (Ctrl+C stops it)")
    while True:
        try:
            code = proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if stopping and time.monotonic() - stopping[0] > 10:  # it ignored SIGTERM
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        except KeyboardInterrupt:
            stop()
    raise typer.Exit(0 if stopping else code)


def _print_links(uri: str, base: str, headline: str) -> None:
    """The UI's address and, per experiment, its runs and learning-curve links."""
    from al4ml.tracking import get_client
    from al4ml.ui import store_links

    console.print(headline, highlight=False, soft_wrap=True)
    for links in store_links(get_client(uri), base):
        console.print(f"{links.name}\n  runs    {links.runs}", highlight=False, soft_wrap=True)
        if links.bands:
            console.print(f"  bands   {links.bands}", highlight=False, soft_wrap=True)
        if links.curves:
            console.print(
                f"  curves  {links.curves}\n          ({links.curves_of}: test accuracy against labels)",
                highlight=False,
                soft_wrap=True,
            )
    sys.stdout.flush()
