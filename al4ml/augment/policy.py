"""Per-sample random policies: draws of op stages per image, applied as batched ops.

A policy draws, for every image of a batch independently, a short sequence of *stages*; a
stage is a pair of tensors ``(op [B], value [B])`` (op index into
:data:`~al4ml.augment.ops.OPS`, op parameter). Application coin-flips that fail turn a
stage's op into ``identity``. :meth:`Policy.__call__` applies the stages with
:func:`~al4ml.augment.ops.apply_op`; :class:`CohortAugment` applies the policies of K cells,
each drawing from its own generator, to their K batches in one pass;
:func:`al4ml.augment.reference.apply_stages_reference` applies the very same stages image by
image with torchvision, which is what the tests and the benchmark's reference pipeline use.

The ops run eagerly: inside the CUDA graph of a training step their launches cost nothing,
and nothing is compiled, so a run pays no compile time for augmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from al4ml.augment.ops import OP_INDEX, apply_op
from al4ml.augment.spaces import SPACES, DeviceTables, Space

Stage = tuple[torch.Tensor, torch.Tensor]
"""``(op [B] int64, value [B] float32)``."""

Draw = Callable[[int, int, int, torch.Generator, torch.device], list[Stage]]
"""``(batch, height, width, generator, device) -> stages``."""

IDENTITY = OP_INDEX["identity"]


def space(name: str) -> Space:
    """The magnitude space ``name`` (``standard`` or ``wide``)."""
    return SPACES[name]()


@dataclass
class Policy:
    """A per-sample random augmentation policy.

    Attributes:
        name: Registered name.
        draw: Draws the per-sample stages of a batch.
        fill: Fill value of geometric ops.
    """

    name: str
    draw: Draw
    fill: float = 0.0

    def stages(self, x: torch.Tensor, generator: torch.Generator) -> list[Stage]:
        """Draw the per-sample stages for batch ``x`` (uint8 ``[B, C, H, W]``)."""
        b, _, h, w = x.shape
        return self.draw(b, h, w, generator, x.device)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment ``x`` (uint8 ``[B, C, H, W]``) with draws from ``generator``."""
        for op, value in self.stages(x, generator):
            x = apply_op(x, op, value, self.fill)
        return x


class CohortAugment:
    """K cells' policies on their K batches in one pass, each drawing from its own generator.

    Every cell draws its stages exactly as it would alone (same generator, same batch
    size, same order), so a cell's augmentations do not depend on its cohort. Cells with
    fewer stages (``none`` has none) are padded with ``identity``, which returns the image
    unchanged; then each stage is one batched :func:`apply_op` over all K * B images.

    Args:
        policies: One policy per cell (same ``fill``).
        generators: One seeded generator per cell, on the batches' device.
    """

    def __init__(self, policies: list[Policy], generators: list[torch.Generator]) -> None:
        fills = {p.fill for p in policies}
        if len(fills) > 1:
            raise ValueError(f"cells of a cohort must share the augmentation fill, got {sorted(fills)}")
        self.policies, self.generators = policies, generators
        self.fill = fills.pop()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment uint8 ``[K * B, C, H, W]`` (cell k's batch at rows ``k*B:(k+1)*B``)."""
        k = len(self.policies)
        b, (_, _, h, w) = len(x) // k, x.shape
        drawn = [p.draw(b, h, w, g, x.device) for p, g in zip(self.policies, self.generators, strict=True)]
        for j in range(max(len(s) for s in drawn)):
            ops, values = [], []
            for stages in drawn:
                if j < len(stages):
                    ops.append(stages[j][0])
                    values.append(stages[j][1])
                else:
                    ops.append(torch.full((b,), IDENTITY, device=x.device, dtype=torch.int64))
                    values.append(torch.zeros(b, device=x.device))
            x = apply_op(x, torch.cat(ops), torch.cat(values), self.fill)
        return x


def _randint(high: int, b: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randint(high, (b,), generator=g, device=device)


def _coin(p: float, b: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(b, generator=g, device=device) < p


def uniform_stage(
    sp: Space,
    b: int,
    g: torch.Generator,
    device: torch.device,
    level: int | None = None,
    p: float = 1.0,
    top: int | None = None,
) -> Stage:
    """One op drawn uniformly from ``sp``; a uniform level in ``[0, top]`` (default: every
    level of ``sp``) unless ``level`` is fixed."""
    op = sp.op_ids(device)[_randint(len(sp.ops), b, g, device)]
    levels = sp.levels if top is None else min(top + 1, sp.levels)
    lv = (
        _randint(levels, b, g, device)
        if level is None
        else torch.full((b,), level, device=device, dtype=torch.int64)
    )
    value = sp.value(op, lv, _coin(0.5, b, g, device))
    if p < 1.0:
        op = torch.where(_coin(p, b, g, device), op, torch.full_like(op, IDENTITY))
    return op, value


def subpolicy_draw(subs: list[list[tuple[int, float, int]]], space_for: Callable[[int, int], Space]) -> Draw:
    """Draws of a policy of two-op sub-policies: per image one sub-policy drawn uniformly,
    each of its ``(op index, probability, level)`` ops applied with its probability."""
    tables = DeviceTables(
        ops=torch.tensor([[o for o, _, _ in sub] for sub in subs]),
        probs=torch.tensor([[p for _, p, _ in sub] for sub in subs]),
        levels=torch.tensor([[lv for _, _, lv in sub] for sub in subs]),
    )

    def draw(b: int, h: int, w: int, g: torch.Generator, d: torch.device) -> list[Stage]:
        sp = space_for(h, w)
        sub = _randint(len(subs), b, g, d)
        t = tables.on(d)
        stages = []
        for j in range(2):
            op, lv = t["ops"][sub, j], t["levels"][sub, j]
            value = sp.value(op, lv, _coin(0.5, b, g, d))
            apply = torch.rand(b, generator=g, device=d) < t["probs"][sub, j]
            stages.append((torch.where(apply, op, torch.full_like(op, IDENTITY)), value))
        return stages

    return draw
