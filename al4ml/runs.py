"""What identifies a run: tags, names and config keys shared by tracking, grids and reports.

A run's *setting* is its resolved config without ``seed`` and ``name``: runs with the same
setting are replicates of one experiment (one cell of a grid) and only they are ever
pooled. Configs are compared in their flat form (``{"training.epochs": "20"}``), which is
also what every run logs as MLflow params, so a report can rebuild any run's setting from
the store alone; keys that an older al4ml did not log count at their current defaults.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from al4ml.errors import ConfigError

ROLE_TAG = "al4ml.role"
"""``run`` (one experiment), ``cell`` (of a grid), ``grid`` (a grid's parent), ``baseline``."""
GRID_TAG = "al4ml.grid"
"""Grid name, on a grid's parent run."""
VERSION_TAG = "al4ml.grid_version"
"""1, 2, ...: a grid re-run with another shared config starts a new version (parent run)."""
AXES_TAG = "al4ml.axes"
"""JSON ``{axis key: [values]}`` on a grid's parent (the union over its runs)."""
CELL_TAG = "al4ml.cell"
"""Hash of a cell's whole resolved config (seed included)."""
SETTING_TAG = "al4ml.setting"
"""Hash of the resolved config without seed and name: replicates share it."""
SETTING_NAME_TAG = "setting"
"""A run's name without its seed (``entropy+trivialaugment``): MLflow's UI groups seeds by it."""
PID_TAG = "al4ml.pid"
"""Process id of the worker that runs a cell."""
HOST_TAG = "al4ml.host"
"""Host name of the machine that runs a cell (a pid means something only there)."""
COHORT_TAG = "al4ml.cohort"
"""The runs a cell trained beside (names, comma-separated; its own included), as of its last start."""
EXECUTION_TAG = "al4ml.execution"
"""How a cell trained and scored: device, precision, CUDA graph, compile (``cuda bf16 cuda-graph``)."""
COHORT_SIZE_TAG = "al4ml.cohort_size"
"""How many cells trained together with it (1: alone)."""
ERROR_TAG = "al4ml.error"
"""Why a FAILED run failed, in one line (the grid's table and the MLflow UI show it)."""
AXIS_TAG_PREFIX = "axis."
"""A cell's value of each grid axis, in full, as tag ``axis.<key>``."""
COLOR_TAG = "mlflow.runColor"
"""MLflow's run colour (runs table and charts): one hue per grid cell, one shade per seed."""
COST_METRIC = "oracle_cost"
"""The spent cost of a priced oracle, logged per round (the loop) and read as an x axis (reports)."""
WRONG_LABELS_METRIC = "oracle_wrong_labels"
"""How many of the labels a round trained on a noisy oracle answered wrongly."""
X_AXES = ("labels", "cost")
"""The budget axes a report reads curves over: label counts, or :data:`COST_METRIC`."""
CEILING_PREFIX = "ceiling_"
"""Baseline runs log their metrics under this prefix, off the learning-curve charts."""

NOT_SETTING = ("seed", "name", "dataset.options.download")
"""Keys that do not change an experiment: how a dataset's file was fetched is not its data."""
ERROR_CHARS = 500


STRATEGY, AUGMENTATION, FUNCTION = "query.strategy", "augmentation.name", "query.params.function"
MODAL = "modal"
SEARCH = "augmentation.search"
"""A searched run's augmentation settings, folded into one key by :func:`setting`."""
TRIALS_ARTIFACT = "search_trials.csv"
"""A searched run's trial table: one row per candidate and search (round, labels, scores, chosen)."""
VALIDATION_TAG = "al4ml.validation"
"""Which held-out data picked the run's epochs or policies, and whether the budget paid for it."""
DESIGN_TAG = "al4ml.design"
"""A sequential grid's design on its parent run (JSON: seed batch, max seeds, alpha, futility,
compared axes), so that a re-run continues it and the report applies it."""


def check_x_axis(x: str) -> None:
    """Refuse a report axis that is not one of :data:`X_AXES`.

    Raises:
        ConfigError: one line naming ``x`` and the valid axes.
    """
    if x not in X_AXES:
        raise ConfigError(f"unknown x axis {x!r}; choose from: {', '.join(X_AXES)}")


def error_line(error: BaseException) -> str:
    """``Type: first line of the message``, at most :data:`ERROR_CHARS` characters."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text[:ERROR_CHARS]


def setting(flat: Mapping[str, str]) -> dict[str, str]:
    """The flat config without the keys that do not change an experiment (:data:`NOT_SETTING`).

    A ``modal`` strategy is spelled out as ``modal:<function>`` under ``query.strategy``; a
    searched augmentation as ``search:<method>`` under ``augmentation.name`` (the fixed
    policy's name is then only its fill's source), its other search keys folded into one
    ``augmentation.search`` value, so that a search is one value of the augmentation axis.
    """
    out = {k: v for k, v in flat.items() if k not in NOT_SETTING}
    if out.get(STRATEGY) == MODAL:
        out[STRATEGY] = f"{MODAL}:{out.pop(FUNCTION, '')}"
    search = {k[len(SEARCH) + 1 :]: out.pop(k) for k in [k for k in out if k.startswith(SEARCH + ".")]}
    if search:
        out[AUGMENTATION] = f"search:{search.pop('method', 'grid')}"
        out[SEARCH] = json.dumps(search, sort_keys=True)
    return out


def validation(flat: Mapping[str, str]) -> str:
    """Which held-out data a run read to choose (``training.select``, ``augmentation.search``)
    and whether the label budget paid for it: ``none``, a labeled k-fold or holdout
    (counted) or the official val split (uncounted), joined where a run chooses twice."""
    used = []
    if flat.get("training.select") == "best_val":
        used.append("epochs: official val (uncounted)")
    if flat.get("training.select") == "best_holdout":
        used.append(f"epochs: labeled {flat.get('training.holdout', '0.2')} holdout (counted)")
    if any(k.startswith(SEARCH + ".") for k in flat):
        if flat.get(SEARCH + ".validation", "labeled") == "official":
            used.append("policy: official val (uncounted)")
        else:
            used.append(f"policy: labeled {flat.get(SEARCH + '.folds', '3')}-fold (counted)")
    return "; ".join(used) or "none"


def setting_hash(flat: Mapping[str, str]) -> str:
    """Hash of :func:`setting`: equal for replicates, different for anything else."""
    blob = json.dumps(setting(flat), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def logged_config(params: Mapping[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    """A run's flat config from its logged params; keys it did not log at their defaults.

    An empty section's default (``model.options: {}``) is not added where the run logged
    keys inside that section (``model.options.width``).
    """
    sections = {k.rsplit(".", i)[0] for k in params for i in range(1, k.count(".") + 1)}
    return {**{k: v for k, v in defaults.items() if k not in sections}, **params}


def logged_as(params: Mapping[str, str], config: Mapping[str, str], defaults: Mapping[str, str]) -> bool:
    """Whether a run that logged ``params`` ran the flat ``config``.

    Keys the run did not log (options added to al4ml after it ran) must be at their default,
    which keeps the behaviour of the version that ran it.
    """
    from al4ml.tracking.client import as_logged  # MLflow: only where logged params are read

    return bool(params) and all(
        params[k] == as_logged(v) if k in params else v == defaults.get(k) for k, v in config.items()
    )


def short(key: str) -> str:
    """A key's last part (``model.options.width`` -> ``width``) for compact labels."""
    return key.rsplit(".", 1)[-1]


def label(values: Mapping[str, Any]) -> str:
    """``entropy+trivialaugment+width=8``: strategy and augmentation bare, others ``key=value``."""
    parts = []
    for key, value in values.items():
        parts.append(str(value) if key in (STRATEGY, AUGMENTATION) else f"{short(key)}={value}")
    return "+".join(parts) or "all runs"


def run_name(flat: Mapping[str, str], axes: Iterable[str] = ()) -> str:
    """``entropy+trivialaugment/s2``, with every other non-seed grid axis after the two (an
    axis over a whole section that holds them, ``augmentation: [{name: none}, {search: ...}]``,
    is named by them)."""
    s = setting(flat)
    keys = [STRATEGY, AUGMENTATION] + [
        k
        for k in axes
        if k not in ("seed", SEARCH)
        and not any((named + ".").startswith(k + ".") for named in (STRATEGY, AUGMENTATION))
    ]
    return f"{label({k: s.get(k, '?') for k in keys})}/s{flat.get('seed', '0')}"


def baseline_name(flat: Mapping[str, str], axes: Iterable[str] = ()) -> str:
    """``baseline+trivialaugment/s0``, with every other grid axis that a baseline's training
    depends on (``baseline+none+select=best_val/s0``): baselines of one grid never share a name."""
    s = setting(flat)
    others = [
        k
        for k in axes
        if k in s
        and k not in (STRATEGY, AUGMENTATION, "seed", SEARCH)
        and not k.startswith(("query.", "budget."))
    ]
    parts = "".join(f"+{short(k)}={s[k]}" for k in others)
    return f"baseline+{s.get(AUGMENTATION, '?')}{parts}/s{flat.get('seed', '0')}"


def display_name(flat: Mapping[str, str], role: str = "run", axes: Iterable[str] = ()) -> str:
    """A run's name in MLflow: :func:`baseline_name` for a baseline, else :func:`run_name`."""
    return baseline_name(flat, axes) if role == "baseline" else run_name(flat, axes)


def training_setting(flat: Mapping[str, str]) -> dict[str, str]:
    """The setting without query and budget keys: what a full-data baseline shares with a run."""
    return {k: v for k, v in setting(flat).items() if not (k.startswith("query.") or k.startswith("budget."))}


def run_color(axes: Mapping[str, list[Any]], values: Mapping[str, Any]) -> str:
    """A grid cell's colour: a Tableau hue for its setting, lighter for each further seed.

    The non-seed axis values pick the hue (tab10, or tab20 past ten settings), so the seeds of
    one setting share a hue and different settings never do (up to twenty); the seed's
    position on the seed axis mixes it with up to 55 % white.

    Args:
        axes: The grid's axes, key -> values in file order.
        values: This cell's value of each axis.
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    index, settings = 0, 1
    for key, options in axes.items():
        if key != "seed":
            index, settings = index * len(options) + options.index(values[key]), settings * len(options)
    palette = colormaps["tab10" if settings <= 10 else "tab20"]
    r, g, b, _ = palette(index % palette.N)
    seeds = list(axes.get("seed", [values.get("seed")]))
    white = 0.55 * seeds.index(values.get("seed")) / max(1, len(seeds) - 1)
    return to_hex((r + (1 - r) * white, g + (1 - g) * white, b + (1 - b) * white))


def policy_label(name: str, params: Mapping[str, Any]) -> str:
    """``randaugment(m=10, n=2)``: a policy and its options, for tables and plot axes."""
    inner = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{name}({inner})" if inner else name
