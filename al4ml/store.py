"""Where runs are stored: resolving and checking MLflow tracking URIs, without importing MLflow.

The CLI checks the store right after the config, so a mistyped or unreachable URI costs a
fraction of a second and one line, before any data is loaded or any run exists.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from al4ml.errors import ConfigError

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"


def resolve_tracking_uri(uri: str | None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns.db`` in the cwd."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI (absolute); ``None`` for other stores."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).expanduser().resolve()
    return None


def artifact_root(uri: str) -> str | None:
    """Artifacts of a ``sqlite:///dir/x.db`` store go to ``dir/mlartifacts`` (beside the db)."""
    db = sqlite_file(uri)
    return None if db is None else (db.parent / "mlartifacts").as_uri()


def existing_store(uri: str) -> str:
    """``uri`` if it names a store that exists; a missing sqlite file is a bad URI.

    Commands that only read (``report``, ``ui``) must not create an empty store where the
    user mistyped a path or ran from another folder.
    """
    db = sqlite_file(uri)
    if db is not None and not db.is_file():
        raise ConfigError(
            f"tracking URI {uri}: no MLflow store at {db}; pass the store your "
            "runs logged to with --tracking-uri (or $MLFLOW_TRACKING_URI)"
        )
    return uri


KNOWN_SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql", "databricks")


STORE_BUSY_SECONDS = float(os.environ.get("AL4ML_STORE_BUSY_SECONDS", "30"))
"""How long a command waits for a sqlite store another process holds locked before refusing it
(``$AL4ML_STORE_BUSY_SECONDS``, default 30)."""


def _writable_folder(path: Path, uri: str, create: bool) -> None:
    """The folder a store file goes into must be a writable directory (made if ``create``).

    A missing folder is refused unless asked for: a typo in a path would otherwise run a
    whole experiment into a new store nobody looks at.
    """
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"tracking URI {uri}: {existing} is a file, not a folder that can hold "
            "the store; pass another --tracking-uri"
        )
    if existing != path and not create:
        raise ConfigError(
            f"tracking URI {uri}: the folder {path} does not exist; check the path, "
            "or pass --create-store to make it"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ConfigError(
            f"tracking URI {uri}: cannot write in {path} ({e.strerror or e}); pass a "
            "writable location with --tracking-uri"
        ) from None


def _readable_sqlite(db: Path, uri: str) -> None:
    """An existing sqlite store must open and be readable within :data:`STORE_BUSY_SECONDS`.

    Read-only and with the standard library, so a damaged or busy store costs one line
    before MLflow (which would print a page of SQLAlchemy traceback) or any training.
    """
    import contextlib
    import sqlite3

    if not db.exists():
        return
    if not db.is_file():
        raise ConfigError(
            f"tracking URI {uri}: {db} is a folder, not a sqlite store file; pass sqlite:///path/to/file.db"
        )
    try:
        with contextlib.closing(
            sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=STORE_BUSY_SECONDS)
        ) as con:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as e:
        text = str(e)
        what = (
            f"is locked by another process (waited {STORE_BUSY_SECONDS:.0f} s); end that "
            "process or its transaction and try again"
            if "locked" in text
            else "is not an SQLite database"
            if "not a database" in text
            else "is damaged (database disk image is malformed)"
            if "malformed" in text
            else f"cannot be read ({text})"
        )
        raise ConfigError(
            f"tracking URI {uri}: {db} {what}"
            + ("" if "locked" in text else "; restore it from a copy or pass another --tracking-uri")
        ) from None


def _answers(uri: str, seconds: float = 3.0) -> None:
    """An http(s) tracking server must answer its health check within ``seconds``."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=seconds):
            return
    except urllib.error.HTTPError:
        return  # it answered (a server without /health, or behind a proxy): MLflow will tell
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ConfigError(
            f"tracking server {uri} does not answer ({reason}); start it (mlflow "
            "server) or pass another --tracking-uri"
        ) from None


_CHECKED: set[str] = set()


def check_store(uri: str, create: bool = False) -> str:
    """Fail in one line, within seconds, where a tracking URI cannot work; return it.

    Unknown schemes, a sqlite or file store under a regular file, in a folder that is
    missing (unless ``create``) or cannot be written, a sqlite file that is damaged, not a
    database or locked by another process, and an http(s) server that does not answer are
    refused before MLflow tries (its own client retries a dead server for minutes).

    Raises:
        ConfigError: naming the URI and what is wrong.
    """
    from urllib.parse import urlparse

    if uri in _CHECKED:
        return uri
    scheme = urlparse(uri).scheme
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    if scheme == "sqlite":
        db = sqlite_file(uri)
        if db is None:
            raise ConfigError(f"tracking URI {uri}: write sqlite stores as sqlite:///path/to/file.db")
        _writable_folder(db.parent, uri, create)
        _readable_sqlite(db, uri)
    elif scheme in ("", "file"):
        store = Path(urlparse(uri).path if scheme else uri).expanduser().resolve()
        _writable_folder(store.parent, uri, create)
        _writable_folder(store, uri, True)  # the store's own folder is MLflow's to make
    elif scheme in ("http", "https"):
        _answers(uri)
    elif scheme.split("+")[0] not in KNOWN_SCHEMES:
        raise ConfigError(
            f"tracking URI {uri}: unsupported scheme {scheme!r}; use "
            "sqlite:///path.db, http(s)://host:port, a folder, or a database URI "
            "(postgresql://...)"
        )
    _CHECKED.add(uri)
    return uri
