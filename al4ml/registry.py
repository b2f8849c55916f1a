"""A tiny name -> function registry, in the spirit of timm's ``@register_model``.

Each concept (datasets, models, augmentations, strategies) owns one :class:`Registry`.
A decorator files a plain function under a name together with free-form metadata; the
``create_*`` helpers, the CLI's ``list`` command and the tests enumerate it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from al4ml.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry(Generic[F]):
    """One registered function with its name, one-line description and metadata."""

    name: str
    fn: F
    description: str
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[F]):
    """Maps names to functions; unknown names raise a one-line :class:`ConfigError`.

    Args:
        kind: What is registered, used in error messages (e.g. ``"strategy"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[F]] = {}

    def register(self, name: str | None = None, **meta: Any) -> Callable[[F], F]:
        """Decorator filing ``fn`` under ``name`` (default: the function's name).

        The first line of the function's docstring becomes its description.
        """

        def deco(fn: F) -> F:
            key = name or fn.__name__
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            doc = (fn.__doc__ or "").strip().splitlines()
            self._entries[key] = Entry(key, fn, doc[0] if doc else "", dict(meta))
            return fn

        return deco

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry[F]]:
        """All entries, sorted by name."""
        return (self._entries[n] for n in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Entry[F]:
        """The entry for ``name``; raises :class:`ConfigError` naming the valid choices."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        """The one-line message for an unknown ``name``."""
        return f"unknown {self.kind} {name!r}; choose from: {', '.join(self.names())}"


def check_params(kind: str, name: str, fn: Callable[..., Any], params: dict[str, Any],
                 skip: int = 0) -> None:
    """Reject keyword ``params`` that ``fn`` does not accept, naming the valid ones.

    Args:
        kind: What ``fn`` is, for the message (e.g. ``"augmentation"``).
        name: The registered name of ``fn``.
        fn: The registered function.
        params: User-supplied keyword arguments.
        skip: Number of leading positional parameters that are inputs, not options.
    """
    import inspect

    sig = inspect.signature(fn)
    accepted = [p.name for p in list(sig.parameters.values())[skip:]
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    for key in params:
        if key not in accepted:
            choices = ", ".join(accepted) or "none"
            raise ConfigError(f"unknown option {key!r} for {kind} {name!r}; valid options: {choices}")
