"""Augmentation policies: per-sample random draws, applied as batched ops.

A policy draws, for every image of a batch independently, a short sequence of *stages*; a
stage is a pair of tensors ``(op [B], value [B])`` (op index into
:data:`~al4ml.augment.ops.OPS`, op parameter). Application coin-flips that fail turn a
stage's op into ``identity``. :meth:`Policy.__call__` applies the stages with
:func:`~al4ml.augment.ops.apply_op` (compiled on CUDA); :func:`al4ml.augment.reference.apply_stages_reference`
applies the very same stages image by image with torchvision, which is what the tests and
the benchmark's reference pipeline use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchvision.transforms import v2

from al4ml.augment import register_augmentation
from al4ml.augment.ops import OP_INDEX, apply_op
from al4ml.augment.spaces import SPACES, TV_NAMES, DeviceTables, Space, autoaugment, standard
from al4ml.errors import ConfigError

Stage = tuple[torch.Tensor, torch.Tensor]
"""``(op [B] int64, value [B] float32)``."""

IDENTITY = OP_INDEX["identity"]

DEEPAUGMENT_POLICY = (
    (("brightness", 0), ("brightness", 3)),
    (("shear_y", 19), ("sharpness", 4)),
    (("solarize", 24), ("translate_y", 26)),
    (("posterize", 7), ("contrast", 24)),
    (("color", 25), ("identity", 9)),
)
"""The seed study's fixed DeepAugment policy: five sub-policies of two (op, level) pairs."""

_COMPILED: dict[str, Callable[..., torch.Tensor]] = {}


def _apply_fn(device: torch.device) -> Callable[..., torch.Tensor]:
    """:func:`apply_op`, compiled with ``torch.compile`` on CUDA, eager elsewhere."""
    if device.type != "cuda":
        return apply_op
    if "cuda" not in _COMPILED:
        _COMPILED["cuda"] = torch.compile(apply_op)
    return _COMPILED["cuda"]


def _space(name: str) -> Space:
    if name not in SPACES:
        raise ConfigError(f"augmentation.params.space: unknown space {name!r}; "
                          f"choose from: {', '.join(SPACES)}")
    return SPACES[name]()


@dataclass
class Policy:
    """A per-sample random augmentation policy.

    Attributes:
        name: Registered name.
        draw: ``(batch, height, width, generator, device) -> list[Stage]``.
        fill: Fill value of geometric ops.
        compile: Compile the batched op on CUDA.
    """

    name: str
    draw: Callable[[int, int, int, torch.Generator, torch.device], list[Stage]]
    fill: float = 0.0
    compile: bool = True

    def stages(self, x: torch.Tensor, generator: torch.Generator) -> list[Stage]:
        """Draw the per-sample stages for batch ``x`` (uint8 ``[B, C, H, W]``)."""
        b, _, h, w = x.shape
        return self.draw(b, h, w, generator, x.device)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment ``x`` (uint8 ``[B, C, H, W]``) with draws from ``generator``."""
        apply = _apply_fn(x.device) if self.compile else apply_op
        for op, value in self.stages(x, generator):
            x = apply(x, op, value, self.fill)
        return x


def _randint(high: int, b: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randint(high, (b,), generator=g, device=device)


def _coin(p: float, b: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(b, generator=g, device=device) < p


def _uniform_stage(space: Space, b: int, g: torch.Generator, device: torch.device,
                   level: int | None = None, p: float = 1.0) -> Stage:
    """One op drawn uniformly from ``space``; a uniform level unless ``level`` is fixed."""
    op = space.op_ids(device)[_randint(len(space.ops), b, g, device)]
    lv = (_randint(space.levels, b, g, device) if level is None
          else torch.full((b,), level, device=device, dtype=torch.int64))
    value = space.value(op, lv, _coin(0.5, b, g, device))
    if p < 1.0:
        op = torch.where(_coin(p, b, g, device), op, torch.full_like(op, IDENTITY))
    return op, value


@register_augmentation("none")
def none() -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """No augmentation (the study's baseline: only normalisation)."""

    def identity(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x

    return identity


@register_augmentation("trivialaugment")
def trivialaugment(space: str = "standard", fill: float = 0.0) -> Policy:
    """TrivialAugment: one uniform op at one uniform level per image (space standard|wide)."""
    sp = _space(space)
    return Policy("trivialaugment", lambda b, h, w, g, d: [_uniform_stage(sp, b, g, d)], fill)


@register_augmentation("randaugment")
def randaugment(n: int = 2, m: int = 30, space: str = "standard", fill: float = 0.0) -> Policy:
    """RandAugment(n, m): n uniform ops per image, each at level m (the study used 2, 30)."""
    sp = _space(space)
    if not 0 <= m < sp.levels:
        raise ConfigError(f"augmentation.params.m: level {m} outside 0..{sp.levels - 1}")
    if n < 0:
        raise ConfigError(f"augmentation.params.n: must be >= 0, got {n}")
    return Policy("randaugment",
                  lambda b, h, w, g, d: [_uniform_stage(sp, b, g, d, level=m) for _ in range(n)],
                  fill)


@register_augmentation("uniaugment")
def uniaugment(space: str = "standard", fill: float = 0.0) -> Policy:
    """UniAugment: two uniform ops at uniform levels, each applied with probability 0.5."""
    sp = _space(space)
    return Policy("uniaugment",
                  lambda b, h, w, g, d: [_uniform_stage(sp, b, g, d, p=0.5) for _ in range(2)],
                  fill)


def _subpolicies(name: str, subs: list[list[tuple[int, float, int]]],
                 space: Callable[[int, int], Space], fill: float) -> Policy:
    """A policy of two-op sub-policies: per image one sub-policy drawn uniformly, each of its
    ``(op index, probability, level)`` ops applied with its probability."""
    tables = DeviceTables(ops=torch.tensor([[o for o, _, _ in sub] for sub in subs]),
                          probs=torch.tensor([[p for _, p, _ in sub] for sub in subs]),
                          levels=torch.tensor([[lv for _, _, lv in sub] for sub in subs]))

    def draw(b: int, h: int, w: int, g: torch.Generator, d: torch.device) -> list[Stage]:
        sp = space(h, w)
        sub = _randint(len(subs), b, g, d)
        t = tables.on(d)
        stages = []
        for j in range(2):
            op, lv = t["ops"][sub, j], t["levels"][sub, j]
            value = sp.value(op, lv, _coin(0.5, b, g, d))
            apply = torch.rand(b, generator=g, device=d) < t["probs"][sub, j]
            stages.append((torch.where(apply, op, torch.full_like(op, IDENTITY)), value))
        return stages

    return Policy(name, draw, fill)


@register_augmentation("deepaugment")
def deepaugment(fill: float = 0.0) -> Policy:
    """The study's fixed DeepAugment policy: one of five sub-policies, each op with p = 0.5."""
    sp = standard()
    subs = [[(OP_INDEX[o], 0.5, lv) for o, lv in sub] for sub in DEEPAUGMENT_POLICY]
    return _subpolicies("deepaugment", subs, lambda h, w: sp, fill)


AUTOAUGMENT_POLICIES = {p.value: p for p in v2.AutoAugmentPolicy}


@register_augmentation("autoaugment")
def autoaugment_policy(policy: str = "imagenet", fill: float = 0.0) -> Policy:
    """torchvision's AutoAugment sub-policies (imagenet|cifar10|svhn), drawn per image."""
    if policy not in AUTOAUGMENT_POLICIES:
        raise ConfigError(f"augmentation.params.policy: unknown AutoAugment policy {policy!r}; "
                          f"choose from: {', '.join(AUTOAUGMENT_POLICIES)}")
    subs = [[(OP_INDEX[TV_NAMES[name]], p, lv or 0) for name, p, lv in sub]
            for sub in v2.AutoAugment(AUTOAUGMENT_POLICIES[policy])._policies]
    return _subpolicies("autoaugment", subs, autoaugment, fill)
