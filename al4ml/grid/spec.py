"""The grid file: its format, its cells (axis values and resolved configs), baselines' configs."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from al4ml.config import ExperimentConfig, anchor_paths, build_config, read_yaml
from al4ml.errors import ConfigError
from al4ml.runs import (
    run_color,
    run_name,
)

if TYPE_CHECKING:  # MLflow takes seconds to import: not needed to validate a grid file
    pass


class GridFile(BaseModel):
    """The grid YAML: base experiment, overrides for all cells, and the axes."""

    model_config = ConfigDict(extra="forbid")

    name: str
    base: str
    set: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, list[Any]]


@dataclass(frozen=True)
class GridCell:
    """One grid cell: its axis values and fully resolved config."""

    values: dict[str, Any]
    config: ExperimentConfig
    color: str = "#1f77b4"  # MLflow's run colour, see :func:`al4ml.runs.run_color`

    @property
    def key(self) -> str:
        """Hash of the resolved config: same config, same cell."""
        blob = json.dumps(self.config.dump(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """The cell's run name, e.g. ``entropy+trivialaugment/s1``."""
        return run_name(self.config.flat(), self.values)


@dataclass
class Grid:
    """A loaded grid: name, axes (key -> values, in file order) and cells in axis order."""

    name: str
    axes: dict[str, list[Any]] = field(default_factory=dict)
    cells: list[GridCell] = field(default_factory=list)

    def shared(self) -> dict[str, str]:
        """The flat config every cell shares, without the axis keys: what versions the grid."""
        flats = [c.config.flat() for c in self.cells]
        common = {k: v for k, v in flats[0].items() if all(f.get(k) == v for f in flats[1:])}
        return {k: v for k, v in common.items() if k not in self.axes}


def is_grid_file(path: str | Path) -> bool:
    """Whether a YAML file is a grid (it has ``axes``) rather than one experiment."""
    try:
        tree = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(tree, dict) and "axes" in tree


def baseline_configs(grid: Grid) -> list[ExperimentConfig]:
    """One config per distinct training setting and seed of the grid's cells (query and
    budget do not matter to a full-data baseline), in cell order."""
    from al4ml.runs import training_setting

    seen: dict[str, ExperimentConfig] = {}
    for cell in grid.cells:
        flat = cell.config.flat()
        seen.setdefault(json.dumps([training_setting(flat), flat["seed"]], sort_keys=True), cell.config)
    return list(seen.values())


def load_grid(path: str | Path, overrides: list[str] | None = None, seeds: list[int] | None = None) -> Grid:
    """Read a grid file and resolve every cell's config (``overrides`` apply to all cells;
    ``seeds``, if given, replace the file's seed axis: a sequential grid's seeds so far).

    Raises:
        ConfigError: unreadable file, unknown keys, or any cell with an invalid config.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"grid file not found: {path}")
    try:
        spec = GridFile.model_validate(read_yaml(path) or {})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']} (grid keys: name, base, set, axes)") from None
    if seeds is not None:
        spec.axes = {**{k: v for k, v in spec.axes.items() if k != "seed"}, "seed": list(seeds)}
    if not spec.axes:
        raise ConfigError(
            f"{path}: axes: no axis given; name at least one config key with a "
            "list of values (e.g. seed: [0, 1, 2])"
        )
    base_path = (path.parent / spec.base).resolve()
    if not base_path.is_file():
        raise ConfigError(f"{path}: base experiment not found: {base_path}")
    base = anchor_paths(read_yaml(base_path) or {}, base_path.parent)
    common = [f"{k}={json.dumps(v)}" for k, v in spec.set.items()] + list(overrides or [])
    empty = [k for k, v in spec.axes.items() if not v]
    if empty:
        raise ConfigError(f"{path}: axis {empty[0]!r} has no values")
    for key, options in spec.axes.items():
        shown = [json.dumps(v, sort_keys=True) for v in options]
        if repeated := next((v for i, v in enumerate(shown) if v in shown[:i]), None):
            raise ConfigError(
                f"{path}: axis {key!r} lists {repeated} twice; each value once "
                "(a repeated value would train the same cell twice)"
            )
    cells = []
    for combo in itertools.product(*spec.axes.values()):
        values = dict(zip(spec.axes, combo, strict=True))
        sets = common + [f"{k}={json.dumps(v)}" for k, v in values.items()] + [f"name={spec.name}"]
        try:
            cfg = build_config(base, sets)
        except ConfigError as e:
            label = " ".join(f"{k}={v}" for k, v in values.items())
            raise ConfigError(f"grid cell [{label}]: {e}") from None
        cells.append(GridCell(values, cfg, run_color(spec.axes, values)))
    return Grid(spec.name, dict(spec.axes), cells)
