"""Magnitude spaces: which ops a policy draws from and what each level means.

A :class:`Space` is a table ``values[op, level]`` of op parameters (the value handed to the
op in :mod:`al4ml.augment.ops`) plus which ops take a random sign. ``standard`` is the seed
study's ``aug_lib`` space (31 levels); ``wide`` is torchvision's ``TrivialAugmentWide``;
``autoaugment`` is the 10-bin space of torchvision's ``AutoAugment`` policies, read from
torchvision itself so that the two never drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, partial

import torch

from al4ml.augment.ops import ENHANCERS, OP_INDEX, OPS

TV_NAMES = {
    "Identity": "identity",
    "ShearX": "shear_x",
    "ShearY": "shear_y",
    "TranslateX": "translate_x",
    "TranslateY": "translate_y",
    "Rotate": "rotate",
    "Brightness": "brightness",
    "Color": "color",
    "Contrast": "contrast",
    "Sharpness": "sharpness",
    "Posterize": "posterize",
    "Solarize": "solarize",
    "AutoContrast": "auto_contrast",
    "Equalize": "equalize",
    "Invert": "invert",
}
"""torchvision's op names -> al4ml's."""

STANDARD_OPS = (
    "identity",
    "auto_contrast",
    "equalize",
    "rotate",
    "solarize",
    "color",
    "posterize",
    "contrast",
    "brightness",
    "sharpness",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
)


class DeviceTables:
    """Small constant tensors, copied to each device once and then reused."""

    def __init__(self, **tensors: torch.Tensor) -> None:
        self._cpu = tensors
        self._by_device: dict[str, dict[str, torch.Tensor]] = {}

    def on(self, device: torch.device) -> dict[str, torch.Tensor]:
        """All tensors on ``device``."""
        key = str(device)
        if key not in self._by_device:
            self._by_device[key] = {k: v.to(device) for k, v in self._cpu.items()}
        return self._by_device[key]


@dataclass(frozen=True)
class Space:
    """Op parameters per (op, level) and the ops a uniform draw picks from.

    Attributes:
        name: Space name.
        ops: Names of the ops drawn uniformly (e.g. by TrivialAugment).
        values: float64 ``[len(OPS), levels]`` unsigned magnitude at each level.
        signed: bool ``[len(OPS)]``: whether the magnitude gets a random sign.
        offset: float64 ``[len(OPS)]`` added after signing (1.0 for torchvision's enhancer
            factors ``1 +- m``; 0 elsewhere).
    """

    name: str
    ops: tuple[str, ...]
    values: torch.Tensor
    signed: torch.Tensor
    offset: torch.Tensor
    _tables: DeviceTables = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = torch.tensor([OP_INDEX[o] for o in self.ops])
        object.__setattr__(
            self, "_tables", DeviceTables(ids=ids, values=self.values, signed=self.signed, offset=self.offset)
        )

    @property
    def levels(self) -> int:
        """Number of magnitude levels."""
        return self.values.shape[1]

    def on(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The tables on ``device``, copied once per device (no host copies per batch)."""
        return self._tables.on(device)

    def op_ids(self, device: torch.device) -> torch.Tensor:
        """int64 ``[len(ops)]``: indices into :data:`OPS` of the drawable ops."""
        return self.on(device)["ids"]

    def value(self, op: torch.Tensor, level: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        """float32 ``[B]`` op parameter for per-sample ``op``, ``level`` and sign coin-flip."""
        t = self.on(op.device)
        v = t["values"][op, level]
        v = torch.where(t["signed"][op] & negative, -v, v)
        return (t["offset"][op] + v).to(torch.float32)


def _table(levels: int, fns: Mapping[str, Callable[[int], float]]) -> torch.Tensor:
    table = torch.zeros(len(OPS), levels, dtype=torch.float64)
    for name, fn in fns.items():
        table[OP_INDEX[name]] = torch.tensor([float(fn(lv)) for lv in range(levels)], dtype=torch.float64)
    return table


def _signed(names: tuple[str, ...]) -> torch.Tensor:
    return torch.tensor([o in names for o in OPS])


def _offset(names: tuple[str, ...]) -> torch.Tensor:
    return torch.tensor([1.0 if o in names else 0.0 for o in OPS], dtype=torch.float64)


@cache
def standard() -> Space:
    """The seed study's ``aug_lib`` "fixed_standard" space: 14 ops, levels 0..30."""

    def f(level: int) -> float:
        return level / 30

    fns = {
        "rotate": lambda lv: int(30 * f(lv)),
        "solarize": lambda lv: 256 - int(256 * f(lv)),
        "posterize": lambda lv: 4 - int(4 * f(lv)),
        "shear_x": lambda lv: 0.3 * f(lv),
        "shear_y": lambda lv: 0.3 * f(lv),
        "translate_x": lambda lv: int(10 * f(lv)),
        "translate_y": lambda lv: int(10 * f(lv)),
        **{e: (lambda lv: 0.1 + 1.8 * f(lv)) for e in ("color", "contrast", "brightness", "sharpness")},
    }
    signed = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
    return Space("standard", STANDARD_OPS, _table(31, fns), _signed(signed), _offset(()))


def _magnitude(mags: torch.Tensor, scale: float, integer: bool, level: int) -> float:
    """torchvision's magnitude at ``level``, scaled (solarize: 0-1 -> 0-255), truncated for
    pixel-count ops."""
    value = scale * float(mags[level])
    return int(value) if integer else value


def _from_torchvision(name: str, space: dict, levels: int, height: int, width: int) -> Space:
    fns: dict[str, Callable[[int], float]] = {}
    signed = []
    for tv_name, (magnitudes_fn, is_signed) in space.items():
        op = TV_NAMES[tv_name]
        mags = magnitudes_fn(levels, height, width)
        if mags is None:
            continue
        integer = op in ("translate_x", "translate_y", "posterize")
        fns[op] = partial(_magnitude, mags, 255.0 if op == "solarize" else 1.0, integer)
        if is_signed:
            signed.append(op)
    ops = tuple(TV_NAMES[n] for n in space)
    return Space(name, ops, _table(levels, fns), _signed(tuple(signed)), _offset(ENHANCERS))


@cache
def wide() -> Space:
    """torchvision's TrivialAugmentWide space (31 levels; shear 0.99, 32 px, 135 degrees)."""
    from torchvision.transforms import v2

    return _from_torchvision("wide", v2.TrivialAugmentWide._AUGMENTATION_SPACE, 31, 0, 0)


@cache
def autoaugment(height: int, width: int) -> Space:
    """torchvision's AutoAugment space (10 bins; translation relative to the image width)."""
    from torchvision.transforms import v2

    return _from_torchvision("autoaugment", v2.AutoAugment._AUGMENTATION_SPACE, 10, height, width)


SPACES = {"standard": standard, "wide": wide}
"""Spaces a user can name in a policy's ``space=`` option."""
