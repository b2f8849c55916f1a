"""A tiny name -> function registry, in the spirit of timm's ``@register_model``.

Each concept (datasets, models, augmentations, strategies) owns one :class:`Registry`.
A decorator files a plain function under a name together with free-form metadata; the
``create_*`` helpers, the CLI's ``list`` command and the tests enumerate it.

A registered function's signature is also its option schema: the parameters that are not
inputs (``root`` of a dataset, ``k`` of a strategy, ...) are the user's options, and their
annotations (``Annotated[int, Field(ge=0, le=30)]``, ``Literal["standard", "wide"]``) are
validated with pydantic before anything runs. The modules that register functions import
torch, torchvision and friends inside function bodies only, so validating a config takes
a fraction of a second.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from al4ml.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry(Generic[F]):
    """One registered function with its name, one-line description and metadata.

    Attributes:
        name: Registry name.
        fn: The registered function.
        description: First line of its docstring.
        meta: Free-form metadata given to the decorator (e.g. a strategy's ``needs``).
        inputs: Parameter names that the caller supplies (not user options).
    """

    name: str
    fn: F
    description: str
    meta: dict[str, Any] = field(default_factory=dict)
    inputs: frozenset[str] = frozenset()

    @cached_property
    def options(self) -> dict[str, inspect.Parameter]:
        """The user options: keyword parameters of ``fn`` that are not inputs."""
        return {
            p.name: p
            for p in inspect.signature(self.fn).parameters.values()
            if p.name not in self.inputs and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }

    @cached_property
    def _schema(self) -> type[BaseModel]:
        fields: dict[str, Any] = {}
        for name, p in self.options.items():
            annotation = _annotation(self.fn, p)
            fields[name] = (annotation, ... if p.default is p.empty else p.default)
        return create_model(f"{self.name}_options", __config__=ConfigDict(extra="forbid"), **fields)

    def describe(self, option: str) -> str:
        """What values ``option`` takes, e.g. ``integer in [0, 30]`` or ``one of: a, b``."""
        return describe(_annotation(self.fn, self.options[option]))

    def check(self, kind: str, params: dict[str, Any], where: str) -> None:
        """Validate user ``params`` against the option schema.

        Args:
            kind: What the entry is, for messages (``"augmentation"``).
            params: The user's options.
            where: The config key holding them (``"augmentation.params"``).

        Raises:
            ConfigError: one line naming the option, the bad value and the valid values.
        """
        try:
            self._schema.model_validate(params)
        except ValidationError as e:
            first = e.errors()[0]
            option = str(first["loc"][0]) if first["loc"] else "?"
            if first["type"] == "extra_forbidden":
                choices = ", ".join(self.options) or "none"
                raise ConfigError(
                    f"{where}: unknown option {option!r} for {kind} {self.name!r}; valid options: {choices}"
                ) from None
            msg = first["msg"].removeprefix("Value error, ")
            got = params.get(option, "<missing>")
            valid = self.describe(option)
            takes = f"; {kind} {self.name!r} takes {option} = {valid}" if valid else ""
            raise ConfigError(f"{where}.{option}: {msg} (got {got!r}){takes}") from None


def _annotation(fn: Callable[..., Any], p: inspect.Parameter) -> Any:
    """An option's annotation, evaluated in ``fn``'s module (``Any`` where there is none)."""
    if p.annotation is p.empty:
        return Any
    if isinstance(p.annotation, str):
        return eval(p.annotation, fn.__globals__)  # as typing.get_type_hints does, one parameter only
    return p.annotation


def describe(annotation: Any) -> str:
    """A short human description of the values an annotation allows."""
    if get_origin(annotation) is Literal:
        return "one of: " + ", ".join(str(a) for a in get_args(annotation))
    base, bounds = annotation, []
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        for m in metadata:
            for item in getattr(m, "metadata", [m]):
                for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
                    if getattr(item, attr, None) is not None:
                        bounds.append(f"{sign} {getattr(item, attr)}")
                if getattr(item, "description", None):
                    bounds.append(item.description)
        if get_origin(base) is Literal:
            return describe(base)
    if base in (str, Any) and not bounds:
        return ""
    kind = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        base, getattr(base, "__name__", str(base))
    )
    return f"{kind} {' and '.join(bounds)}".strip()


class Registry(Generic[F]):
    """Maps names to functions; unknown names raise a one-line :class:`ConfigError`.

    Args:
        kind: What is registered, used in error messages (e.g. ``"strategy"``).
        inputs: Parameter names every registered function takes as inputs, not options
            (an entry's ``needs`` metadata adds more).
    """

    def __init__(self, kind: str, inputs: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.inputs = inputs
        self._entries: dict[str, Entry[F]] = {}

    def register(self, name: str | None = None, **meta: Any) -> Callable[[F], F]:
        """Decorator filing ``fn`` under ``name`` (default: the function's name).

        The first line of the function's docstring becomes its description (reStructuredText
        literals shown as plain text).
        """

        def deco(fn: F) -> F:
            key = name or fn.__name__
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            doc = (fn.__doc__ or "").strip().splitlines()
            inputs = frozenset(self.inputs) | frozenset(meta.get("needs", ()))
            line = re.sub(r"``([^`]*)``", r"\1", doc[0]) if doc else ""  # plain text in listings
            self._entries[key] = Entry(key, fn, line, dict(meta), inputs)
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


def load_plugins(group: str) -> None:
    """Import every module that installed packages declare under entry-point ``group``.

    A plugin package registers its functions with the usual decorators in a module it names
    in its ``pyproject.toml`` (``[project.entry-points."al4ml.strategies"] mine =
    "my_package.strategies"``); ``pip install`` of the package makes them known to the CLI,
    config validation and ``al4ml list``. A plugin that fails to import is reported in one
    warning line and left out.
    """
    import warnings
    from importlib.metadata import entry_points

    from al4ml.errors import Al4mlWarning

    for ep in entry_points(group=group):
        try:
            ep.load()
        except Exception as e:  # a broken plugin must not take al4ml down with it
            warnings.warn(
                Al4mlWarning(
                    f"plugin {ep.name!r} ({ep.value}) of {group} was not loaded: {type(e).__name__}: {e}"
                ),
                stacklevel=2,
            )
