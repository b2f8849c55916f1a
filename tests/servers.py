"""Real servers for tests: an ``mlflow server`` and a throwaway PostgreSQL cluster."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, what: str, log: Path, timeout: float = 120) -> None:
    """Poll ``url`` until it answers; raise with the tail of ``log`` when it never does."""
    deadline = time.time() + timeout
    while time.time() < deadline:
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
        wait_for(f"{self.uri}/health", "mlflow server", log)

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

        deadline = time.time() + 60
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
            self.proc.wait(timeout=30)
            self.proc = None
        shutil.rmtree(self.folder, ignore_errors=True)
