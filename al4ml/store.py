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
        raise ConfigError(f"tracking URI {uri}: no MLflow store at {db}; pass the store your "
                          "runs logged to with --tracking-uri (or $MLFLOW_TRACKING_URI)")
    return uri


KNOWN_SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql", "databricks")


def _writable_folder(path: Path, uri: str) -> None:
    """The folder a store file goes into must be (or become) a writable directory."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"tracking URI {uri}: {existing} is a file, not a folder that can hold "
                          "the store; pass another --tracking-uri")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ConfigError(f"tracking URI {uri}: cannot write in {path} ({e.strerror or e}); pass a "
                          "writable location with --tracking-uri") from None


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
        raise ConfigError(f"tracking server {uri} does not answer ({reason}); start it (mlflow "
                          "server) or pass another --tracking-uri") from None


_CHECKED: set[str] = set()


def check_store(uri: str) -> str:
    """Fail in one line, within seconds, where a tracking URI cannot work; return it.

    Unknown schemes, a sqlite or file store under a regular file or in a folder that cannot
    be written, and an http(s) server that does not answer are refused before MLflow tries
    (its own client retries a dead server for minutes).

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
        _writable_folder(db.parent, uri)
    elif scheme in ("", "file"):
        _writable_folder(Path(urlparse(uri).path if scheme else uri).expanduser().resolve(), uri)
    elif scheme in ("http", "https"):
        _answers(uri)
    elif scheme.split("+")[0] not in KNOWN_SCHEMES:
        raise ConfigError(f"tracking URI {uri}: unsupported scheme {scheme!r}; use "
                          "sqlite:///path.db, http(s)://host:port, a folder, or a database URI "
                          "(postgresql://...)")
    _CHECKED.add(uri)
    return uri
