"""What the tests share: the repository's paths, small configs and data files, the CLI in
subprocesses, waiting for what a running process does (never for time), and real servers.

End-to-end tests synchronise on events a run produces (a round in the store, a journal file,
a held query of :class:`Gate`) and fail with a message when an event does not come within a
generous deadline; none of them asserts how long something took.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import yaml

from al4ml.config import ExperimentConfig, build_config
from al4ml.records import CellObserver
from al4ml.runs import AXES_TAG, GRID_TAG, ROLE_TAG, SETTING_TAG, setting_hash

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
QUICKSTART = REPO / "experiments" / "digits_quickstart.yaml"
PLUGINS = Path(__file__).resolve().parent / "plugins"
T = TypeVar("T")
METRICS_PER_ROUND = (
    "test_accuracy",
    "test_auc",
    "val_accuracy",
    "train_loss",
    "n_labeled",
    "train_seconds",
    "query_seconds",
)
"""The metrics every run logs at every round (step = labels)."""


def tiny_config(**overrides: object) -> ExperimentConfig:
    """A digits config that runs a few rounds in a couple of seconds on CPU."""
    tree = {
        "name": "test",
        "seed": 0,
        "device": "cpu",
        "dataset": {"name": "digits"},
        "model": {"name": "tiny_cnn", "options": {"width": 8}},
        "training": {"epochs": 3, "batch_size": 32, "lr": 0.003},
        "augmentation": {"name": "none"},
        "query": {"strategy": "entropy"},
        "budget": {"initial": 10, "per_round": 10, "total": 40},
    }
    return build_config(tree, [f"{k}={v}" for k, v in overrides.items()])


def write_medmnist_npz(
    path: Path, n: tuple[int, int, int] = (40, 10, 12), channels: int = 1, classes: int = 2, seed: int = 0
) -> None:
    """Write a small .npz in the official MedMNIST layout (uint8 images, [N, 1] labels)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        shape = (count, 28, 28) if channels == 1 else (count, 28, 28, 3)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count) % classes).reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)


def write_multilabel_npz(
    path: Path, n: tuple[int, int, int] = (80, 30, 40), findings: int = 14, seed: int = 0
) -> None:
    """Write a small ChestMNIST-shaped .npz (official layout: 28 px grey, ``[N, 14]`` 0/1 labels).

    Learnable on purpose: finding ``j`` brightens its own 7 x 7 patch of a 4 x 4 grid, so a
    tiny model can beat chance; every finding is present and absent in every split (its AUC
    is defined, as ``medmnist.Evaluator`` needs).
    """
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        labels = (rng.random((count, findings)) < 0.3).astype(np.uint8)
        labels[0], labels[1] = 0, 1
        images = rng.integers(0, 90, (count, 28, 28)).astype(np.int64)
        for j in range(findings):
            r, c = divmod(j, 4)
            images[:, 7 * r : 7 * r + 7, 7 * c : 7 * c + 7] += 150 * labels[:, j, None, None]
        arrays[f"{split}_images"] = images.clip(0, 255).astype(np.uint8)
        arrays[f"{split}_labels"] = labels
    np.savez(path, **arrays)


def write_grid(tmp_path: Path, axes: dict, name: str = "tgrid", **common) -> Path:
    spec = {
        "name": name,
        "base": str(QUICKSTART),
        "set": {
            "training.epochs": 2,
            "budget.initial": 10,
            "budget.per_round": 10,
            "budget.total": 30,
            "model.options.width": 8,
            **common,
        },
        "axes": axes,
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without a tracking URI (every test names its own store)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["COLUMNS"] = "200"
    return {**env, **(extra or {})}


HANG = 3600.0
"""Seconds after which a command or an awaited event counts as hung: a guard against hangs,
never a speed bound (a Ray grid took over 15 min to start its tasks with three suites and two
busy loops sharing 2 cores; such a run is slow, not wrong)."""


def al4ml(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = HANG
) -> subprocess.CompletedProcess:
    """Run ``al4ml ARGS`` to its end in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "al4ml.cli", *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``al4ml ARGS`` in the background, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "al4ml.cli", *args],
        cwd=cwd,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


HEAVY = ("torch", "torchvision", "mlflow", "sklearn", "scipy", "matplotlib")


def al4ml_imports(*args: str, cwd: Path = REPO) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``al4ml ARGS`` in a fresh interpreter; also say which of :data:`HEAVY` it imported.

    How fast a command answers depends on the machine; what it imported before answering
    does not, and is what makes an error line come at once (torch and MLflow take seconds).
    """
    code = (
        "import json, sys\nfrom al4ml.cli import main\n"
        f"sys.argv = ['al4ml', *{list(args)!r}]\n"
        "try:\n    main()\nfinally:\n"
        f"    print('\\nIMPORTED ' + json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=HANG
    )
    head, _, tail = proc.stdout.rpartition("\nIMPORTED ")
    assert tail, proc.stdout + proc.stderr
    proc.stdout = head
    return proc, json.loads(tail)


def wait_until(check: Callable[[], T], what: str, timeout: float = HANG, every: float = 0.3) -> T:
    """Poll ``check`` until it returns something truthy, and return that.

    Raises:
        AssertionError: naming ``what`` when it did not happen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if value := check():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(every)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except OSError:
        return False


class Gate:
    """Holds runs that query with the ``gated`` test strategy (``tests/plugins/al4ml_gate.py``).

    ``hold(c)`` before a run starts makes every process's ``c``-th query wait there;
    ``wait_held(c, count)`` returns the pids of the processes that reached it;
    ``release(c)`` lets them go on. A run is thus in a known state for as long as a test
    needs, however fast or slow the machine.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}
        self.sets = ["--set", "query.strategy=gated", "--set", f"query.params.gate={folder}"]

    def hold(self, *calls: int) -> None:
        for c in calls:
            (self.folder / f"hold-{c}").touch()

    def fail(self, *calls: int) -> None:
        """Make query ``c`` raise (a run that fails mid-run), until :meth:`heal`."""
        for c in calls:
            (self.folder / f"fail-{c}").touch()

    def heal(self, *calls: int) -> None:
        for c in calls:
            (self.folder / f"fail-{c}").unlink(missing_ok=True)

    def release(self, *calls: int) -> None:
        for c in calls:
            (self.folder / f"hold-{c}").unlink(missing_ok=True)

    def held(self, call: int) -> list[int]:
        """Pids of the processes that reached query ``call`` while it was held."""
        return sorted(int(p.name.rsplit("-", 1)[1]) for p in self.folder.glob(f"held-{call}-*"))

    def wait_held(self, call: int, count: int = 1, timeout: float = HANG) -> list[int]:
        def reached() -> list[int]:
            pids = self.held(call)
            return pids if len(pids) >= count else []

        return wait_until(reached, f"{count} process(es) holding at query {call}", timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, what: str, log: Path, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers; raise with the tail of ``log`` as soon as ``proc`` (the
    server) has exited, or when it has not answered after :data:`HANG`."""
    deadline = time.time() + HANG
    while time.time() < deadline and (proc is None or proc.poll() is None):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{what} did not start: " + log.read_text()[-2000:])


class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1 with proxied artifacts, to stop and start.

    Args:
        folder: Where the server's log, sqlite store (the default backend) and artifacts live.
        backend_uri: Another backend store, e.g. a PostgreSQL URI.
    """

    def __init__(self, folder: Path, backend_uri: str | None = None) -> None:
        self.folder, self.port = folder, free_port()
        self.backend_uri = backend_uri or f"sqlite:///{folder / 'server.db'}"
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.folder / "server.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                self.backend_uri,
                "--artifacts-destination",
                str(self.folder / "server-artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )  # as docker/compose.yaml
        wait_for(f"{self.uri}/health", "mlflow server", log, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
            self.proc = None


def postgres_bindir() -> Path | None:
    """The folder of ``initdb`` and ``postgres`` (Debian keeps them off PATH), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name))
    return Path(dirs[-1]) if dirs and (Path(dirs[-1]) / "initdb").is_file() else None


class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust auth, user ``mlflow``).

    PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres``
    user that Debian's package creates, in a folder of its own (pytest's temp folders are
    private to root). Skips the test with the reason when the server binaries or that user are
    missing.
    """

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        if self.bindir is None:
            pytest.skip(
                "PostgreSQL is not installed (apt-get install postgresql; .ci/run does it when it can)"
            )
        self.user: str | None = None
        if os.geteuid() == 0:
            import pwd

            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no 'postgres' user to own the cluster")
            self.user = "postgres"
        self.folder = Path(tempfile.mkdtemp(prefix="al4ml-pg-"))
        if self.user:
            shutil.chown(self.folder, self.user)
        self.port = free_port()
        self.dsn = f"postgresql://mlflow@127.0.0.1:{self.port}/postgres"
        self.uri = self.dsn.replace("postgresql://", "postgresql+psycopg://")  # SQLAlchemy's
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        data, log = self.folder / "data", self.folder / "postgres.log"
        subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "mlflow",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            user=self.user,
            check=True,
            capture_output=True,
            cwd=self.folder,
        )
        self.proc = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.folder}",
                "-c",
                "fsync=off",
            ],
            user=self.user,
            stdout=log.open("a"),
            stderr=subprocess.STDOUT,
            cwd=self.folder,
            start_new_session=True,
        )
        import psycopg

        deadline = time.time() + HANG
        while True:
            try:
                psycopg.connect(self.dsn).close()
                return
            except psycopg.OperationalError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("postgres did not start: " + log.read_text()[-2000:]) from None
                time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=HANG)
            self.proc = None
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Ran:
    """What an in-process ``al4ml`` command returned and printed."""

    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, cwd: Path | None = None) -> Ran:
    """``al4ml ARGS`` in this process, through the console script's ``main``: the same
    parsing, validation and one-line errors as :func:`al4ml`, without starting an interpreter
    (and counted by coverage). What a fresh process imports needs :func:`al4ml_imports`."""
    import contextlib
    import io
    import warnings

    from al4ml.cli import main
    from al4ml.cli.app import QUIET

    out, err = io.StringIO(), io.StringIO()
    saved = (sys.argv, os.getcwd(), warnings.showwarning, dict(QUIET), dict(os.environ))
    sys.argv = ["al4ml", *args]
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["COLUMNS"] = "200"
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
    finally:
        sys.argv, cwd_before, warnings.showwarning, quiet, environ = saved
        os.chdir(cwd_before)
        QUIET.clear()
        QUIET.update(quiet)
        os.environ.clear()
        os.environ.update(environ)
    return Ran(code, out.getvalue(), err.getvalue())


def one_line_error(proc: Ran | subprocess.CompletedProcess, *fragments: str) -> str:
    """The one ``error:`` line a refused command prints (exit 2, no traceback), holding every
    fragment."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# Bad input as users type it: the config overrides of ``al4ml run`` and the command lines
# typer refuses, each with the fragments its one error line must name.
BAD_VALUES = [
    (
        ["query.strategy=aug_consistency", "query.params.measure=js"],
        ["query.params.measure", "'js'", "kl, variation_ratio"],
    ),
    (
        ["augmentation.name=randaugment", "augmentation.params.m=99"],
        ["augmentation.params.m", "99", "≥ 0 and ≤ 30"],
    ),
    (
        ["query.strategy=modal:modAL.uncertainty.no_such_function"],
        ["query.params.function", "module 'modAL.uncertainty' has no function 'no_such_function'"],
    ),
    (["query.strategy=modal:modAL.nope.fn"], ["query.params.function", "no module 'modAL.nope'"]),
    (
        ["augmentation.name=randaugment", "augmentation.params.n=-1"],
        ["augmentation.params.n", "-1", "≥ 0 and ≤ 14"],
    ),
    (
        ["augmentation.name=trivialaugment", "augmentation.params.space=huge"],
        ["augmentation.params.space", "huge", "standard, wide"],
    ),
    (
        ["augmentation.name=autoaugment", "augmentation.params.policy=cifar"],
        ["augmentation.params.policy", "imagenet, cifar10, svhn"],
    ),
    (["query.mc_samples=1"], ["query.mc_samples", "≥ 2 and ≤ 1000"]),
    (["query.aug_views=0"], ["query.aug_views", "≥ 2 and ≤ 256"]),
    (["dataset.options.size=4"], ["dataset.options.size", "≥ 8 and ≤ 512"]),
    (
        ["dataset.name=medmnist", "dataset.options.size=100"],
        ["dataset.options.size", "100", "28, 64, 128, 224"],
    ),
    (
        ["dataset.name=medmnist", "dataset.options.flag=chestmnist"],
        ["query.strategy", "'entropy'", "multi-label", "multilabel_entropy"],
    ),
    (
        [
            "dataset.name=medmnist",
            "dataset.options.flag=chestmnist",
            "query.strategy=badge",
            "oracle.noise.kind=asymmetric",
            "oracle.noise.rate=0.1",
        ],
        ["oracle.noise.kind", "'asymmetric'", "multi-label", "symmetric"],
    ),
    (
        ["query.strategy=multilabel_margin"],
        ["query.strategy", "'multilabel_margin'", "multi-class", "entropy"],
    ),
    (
        ["dataset.name=medmnist", "dataset.options.flag=brestmnist"],
        ["dataset.options.flag", "brestmnist", "breastmnist"],
    ),
    (["model.options.dropout=1.5"], ["model.options.dropout", "1.5", "≥ 0 and < 1"]),
    (["model.options.width=0"], ["model.options.width", "≥ 1 and ≤ 1024"]),
    (["query.strategy=bald"], ["query.strategy", "model.options.dropout > 0"]),
    (["budget.total=10", "budget.initial=20"], ["budget", "total (10) must be >= initial (20)"]),
    (["budget.per_round=0"], ["budget.per_round", "≥ 1"]),
    (["training.epochs=0"], ["training.epochs", "≥ 1"]),
    (["query.params.measure=kl"], ["query.params", "unknown option 'measure'", "strategy 'entropy'"]),
]

"""(``--set`` overrides, fragments of the error line)."""

USAGE_ERRORS = [
    (
        ["list", "optimizers"],
        ["'optimizers'", "'strategies', 'augmentations', 'datasets', 'models'", "al4ml list --help"],
    ),
    (
        ["grid", "g.yaml", "--executor", "dask"],
        ["--executor", "'dask'", "'local', 'ray'", "al4ml grid --help"],
    ),
    (["grid", "g.yaml", "--workers", "0"], ["--workers", "'0'", "greater than or equal to 1"]),
    (["grid", "g.yaml", "--gpus-per-cohort", "-1"], ["--gpus-per-cohort", "'-1'"]),
    (["run", "--epochs", "3"], ["No such option: --epochs", "al4ml run --help"]),
    (["grid"], ["Missing argument 'GRID'", "al4ml grid --help"]),
    (["trian"], ["No such command 'trian'", "al4ml --help"]),
]
"""(arguments, fragments of the error line)."""


# Runs as al4ml logs them, written straight into a store (no training), for report tests.
STEPS = [20, 40, 60, 80, 100]


BASE = np.array([0.5, 0.65, 0.75, 0.82, 0.86])


def noisy_curve(strategy: str, aug: str, seed: int) -> list[float]:
    """Planted curves: entropy above random, trivialaugment above none, seed noise."""
    rng = np.random.default_rng(zlib.crc32(f"{strategy}/{aug}/{seed}".encode()))
    lift = {"random": 0.0, "entropy": 0.05}[strategy] + {"none": 0.0, "trivialaugment": 0.02}[aug]
    return (BASE + lift + rng.normal(0, 0.005, len(BASE))).clip(0, 1).tolist()


def log_run(
    client,
    exp,
    overrides: dict,
    values: list[float],
    parent: str | None = None,
    role: str = "cell",
    steps=STEPS,
    metric="test_accuracy",
) -> str:
    """A run as al4ml logs it: flat config as params, role and setting tags, one metric curve."""
    from mlflow.entities import Metric, Param

    cfg = tiny_config(**overrides)
    flat = cfg.flat()
    tags = {
        ROLE_TAG: role,
        SETTING_TAG: setting_hash(flat),
        "strategy": cfg.query.strategy,
        "augmentation": cfg.augmentation.name,
        "seed": str(cfg.seed),
    }
    if parent:
        tags["mlflow.parentRunId"] = parent
    run = client.create_run(exp, tags=tags)
    params = [Param(k, v) for k, v in flat.items()]
    for i in range(0, len(params), 100):
        client.log_batch(run.info.run_id, params=params[i : i + 100])
    client.log_batch(
        run.info.run_id, metrics=[Metric(metric, v, 0, s) for s, v in zip(steps, values, strict=True)]
    )
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def grid_parent(client, exp, axes: dict) -> str:
    return client.create_run(
        exp, tags={ROLE_TAG: "grid", GRID_TAG: "synthetic", AXES_TAG: json.dumps(axes)}
    ).info.run_id


# Runs that stop where a test needs them to, and what a run logged.
def tiny_digits(tmp_path: Path, name: str = "race", total: int = 20) -> Path:
    path = tmp_path / f"{name}.yaml"
    tree = yaml.safe_load(QUICKSTART.read_text())
    tree.update(name=name, device="cpu")
    tree["model"]["options"] = {"width": 4}
    tree["training"].update(epochs=1, min_steps=0)
    tree["budget"] = {"initial": 10, "per_round": 10, "total": total}
    path.write_text(yaml.safe_dump(tree))
    return path


KILLER = """
import os, signal, sys
from al4ml.config import load_config
from al4ml.experiment import CellSpec, run_cohort
from al4ml import loop, tracking
from al4ml.records import CohortObserver

config, uri, point = sys.argv[1:4]


def die():
    os.kill(os.getpid(), signal.SIGKILL)


class FirstRound(CohortObserver):
    def on_epoch(self, epoch, epochs):
        if epoch == 2:
            die()


if point == "mid_run":  # round 2's metrics are logged, its state is not saved yet
    save = tracking.MlflowTracker._artifact
    def _artifact(self, path, write):
        if path == tracking.STATE_ARTIFACT and len(self._logged) == 3:
            die()
        save(self, path, write)
    tracking.MlflowTracker._artifact = _artifact
if point == "scoring":  # round 1's model is trained and evaluated, the pool half scored
    score = loop.ActiveLearningLoop.score_pool
    def score_pool(self, stack, cells):
        out = score(self, stack, cells)
        if len(cells[0].state.history) == 1:
            die()
        return out
    loop.ActiveLearningLoop.score_pool = score_pool
if point == "search":  # round 1's search has split the labeled set and trains its models
    from al4ml.search import problem
    fit, fits = problem.SearchProblem.fit, []
    def search_fit(self, members):
        fits.append(len(members))
        if len(fits) == 2:
            die()
        return fit(self, members)
    problem.SearchProblem.fit = search_fit
if point == "before_finished":  # every round and state saved, the run not closed yet
    tracking.MlflowTracker.on_finish = lambda self, model, state: die()
observers = (FirstRound(),) if point == "first_round" else ()
run_cohort([CellSpec(load_config(config))], uri, progress=False, cohort_observers=observers)
"""


def kill_at(tmp_path: Path, config: Path, uri: str, point: str) -> None:
    """Run ``config`` into store ``uri`` in a fresh interpreter that SIGKILLs itself at
    ``point`` (one of :data:`KILLER`'s points); fails the test unless it died there."""
    (tmp_path / "killer.py").write_text(KILLER)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = str(REPO)
    killed = subprocess.run(
        [sys.executable, str(tmp_path / "killer.py"), str(config), uri, point],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]


def histories(client, run_id: str) -> dict:
    run = client.get_run(run_id)
    return {
        name: [
            (m.step, m.value) for m in sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)
        ]
        for name in run.data.metrics
        if name not in ("train_seconds", "query_seconds")
    }


class CrashAfter(CellObserver):
    """Raises after a given round, like a process killed mid-run."""

    def __init__(self, round_: int) -> None:
        self.round = round_

    def on_round(self, record, state):
        if record.round == self.round:
            raise RuntimeError("simulated crash")


# A planted search problem: the class is the image's brightness.
def brightness_pool(n: int = 96, seed: int = 0) -> tuple[Any, Any]:
    """The class is the image's brightness: grey 80 or 170, noise ±6 (uint8 ``[n, 1, 28, 28]``
    images, ``[n]`` labels)."""
    import torch

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(-6, 7, (n, 1, 28, 28)) + np.where(labels, 170, 80)[:, None, None, None]
    return torch.from_numpy(images.clip(0, 255).astype(np.uint8)), torch.from_numpy(labels)


def search(seed: int, candidates: list[dict], steps: int = 20, **settings: object) -> Any:
    """A search over ``candidates`` on the brightness pool's first 40 items (20 per class)."""
    import torch

    from al4ml.config import SearchConfig, TrainingConfig
    from al4ml.device import Execution
    from al4ml.models import create_model
    from al4ml.search import search_policy
    from al4ml.search.problem import SearchProblem
    from al4ml.task import Task

    pool, labels = brightness_pool(seed=seed)
    rows = torch.arange(40)  # the labeled part of the pool: 20 per class
    cfg = SearchConfig(**{"policies": candidates, "folds": 4, "epochs": 2, **settings})
    training = TrainingConfig(epochs=2, min_steps=steps, batch_size=16, lr=0.003 if steps > 20 else 0.001)

    def new_model(j: int) -> torch.nn.Module:
        torch.manual_seed(1000 * seed + j)
        return create_model("tiny_cnn", 1, 2, width=4)

    problem = SearchProblem.of(
        cfg,
        training,
        pool=pool,
        rows=rows,
        labels=labels[rows],
        execution=Execution.of(torch.device("cpu"), training),
        task=Task.of("multi-class"),
        new_model=new_model,
        seed=lambda purpose, j: zlib.crc32(f"{seed}/{purpose}/{j}".encode()),
    )
    return search_policy(cfg, problem)


def views():
    """Class probabilities of 6 augmented views ``[10, 6, 3]`` (known answers for
    view-disagreement strategies). Row 0: augmented views flip between classes. Row 1: all views agree."""
    import torch

    v = torch.full((10, 6, 3), 0.0)
    v[:, :, 0] = 0.8
    v[:, :, 1:] = 0.1
    v[0] = torch.eye(3)[torch.tensor([0, 1, 2, 0, 1, 2])] * 0.9 + 0.1 / 3
    return v
