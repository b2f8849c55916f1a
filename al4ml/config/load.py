"""Configs from YAML files and ``--set`` overrides, with one-line errors naming the bad key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ValidationError

from al4ml.config.experiment import ExperimentConfig
from al4ml.errors import ConfigError
from al4ml.registry import describe


def apply_override(tree: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b.c=value`` override in place; ``value`` is parsed as YAML.

    Raises:
        ConfigError: if the assignment has no ``=`` or walks through a non-mapping.
    """
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    parts = key.strip().split(".")
    node = tree
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""


def _models_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = tuple(first["loc"])
    where = ".".join(str(p) for p in loc) or "config"
    if first["type"] == "extra_forbidden":
        parent = _models_at(loc[:-1])
        valid = ", ".join(parent.model_fields) if parent else "?"
        return f"unknown config key {where!r}; valid keys here: {valid}"
    msg = first["msg"].removeprefix("Value error, ")
    got = first.get("input")
    line = f"{where}: {msg}" + ("" if isinstance(got, dict) else f" (got {got!r})")
    parent = _models_at(loc[:-1])
    field = parent.model_fields.get(str(loc[-1])) if parent and loc else None
    if field is not None and field.metadata:
        line += f"; valid: {describe(Annotated[(field.annotation, *field.metadata)])}"
    return line


def build_config(tree: dict[str, Any], overrides: list[str] | None = None) -> ExperimentConfig:
    """Validate a config tree after applying ``--set`` overrides (``tree`` is not modified).

    Raises:
        ConfigError: with one line naming the bad key or value.
    """
    tree = copy.deepcopy(tree)
    for assignment in overrides or []:
        apply_override(tree, assignment)
    try:
        return ExperimentConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(_one_line(e)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error.

    Plain YAML keeps the last of two equal keys, so a config with ``epochs`` twice silently
    runs with one of them.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice (lines {seen[key]} and {line}); keep one",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error or a repeated key is one line with file, line and column.

    Raises:
        ConfigError: ``path:line:column: not valid YAML: <problem>``.
    """
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None


def anchor_paths(tree: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A config tree whose relative ``dataset.root`` is taken from ``folder`` (the YAML's own).

    A file means the same wherever it is run from; a ``--set dataset.root=...`` given on the
    command line stays relative to the working directory, as shell paths are.
    """
    root = (tree.get("dataset") or {}).get("root") if isinstance(tree.get("dataset"), dict) else None
    if isinstance(root, str) and root and not Path(root).expanduser().is_absolute():
        tree = copy.deepcopy(tree)
        tree["dataset"]["root"] = str((folder / root).resolve())
    return tree


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load an experiment YAML file, apply overrides, validate.

    Raises:
        ConfigError: missing/unparsable file or invalid content, as one line.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    tree = read_yaml(path) or {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return build_config(anchor_paths(tree, path.parent), overrides)
