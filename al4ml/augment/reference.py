"""Per-image reference implementations on ``torchvision.transforms.v2.functional``.

These define the semantics the batched ops must reproduce: each op is the torchvision call
that torchvision's own auto-augment transforms make for it. They loop over images in Python
and are meant for tests and for the benchmark's reference pipeline, not for training.
"""

from __future__ import annotations

import math

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from al4ml.augment.ops import OPS
from al4ml.augment.policy import Policy, Stage


def reference_op(img: torch.Tensor, name: str, value: float, fill: float = 0.0) -> torch.Tensor:
    """Apply op ``name`` with parameter ``value`` to one uint8 image ``[C, H, W]``."""
    fill_ = None if fill == 0 else [float(fill)]
    nearest = InterpolationMode.NEAREST
    if name == "identity":
        return img
    if name in ("shear_x", "shear_y"):
        deg = math.degrees(math.atan(value))
        shear = [deg, 0.0] if name == "shear_x" else [0.0, deg]
        return F.affine(
            img,
            angle=0.0,
            translate=[0, 0],
            scale=1.0,
            shear=shear,
            interpolation=nearest,
            fill=fill_,
            center=[0, 0],
        )
    if name in ("translate_x", "translate_y"):
        t = [int(value), 0] if name == "translate_x" else [0, int(value)]
        return F.affine(
            img, angle=0.0, translate=t, scale=1.0, shear=[0.0, 0.0], interpolation=nearest, fill=fill_
        )
    if name == "rotate":
        return F.rotate(img, angle=value, interpolation=nearest, fill=fill_)
    if name == "brightness":
        return F.adjust_brightness(img, value)
    if name == "color":
        return F.adjust_saturation(img, value)
    if name == "contrast":
        return F.adjust_contrast(img, value)
    if name == "sharpness":
        return F.adjust_sharpness(img, value)
    if name == "posterize":
        return F.posterize(img, int(value))
    if name == "solarize":
        return img if value > 255 else F.solarize(img, value)
    if name == "auto_contrast":
        return F.autocontrast(img)
    if name == "equalize":
        return F.equalize(img)
    if name == "invert":
        return F.invert(img)
    raise ValueError(f"unknown op {name!r}")


def apply_stages_reference(x: torch.Tensor, stages: list[Stage], fill: float = 0.0) -> torch.Tensor:
    """Apply per-sample ``stages`` image by image with :func:`reference_op` (uint8 ``[B,C,H,W]``)."""
    out = []
    for i in range(len(x)):
        img = x[i]
        for op, value in stages:
            img = reference_op(img, OPS[int(op[i])], float(value[i]), fill)
        out.append(img)
    return torch.stack(out)


def reference_policy(policy: Policy, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Augment ``x`` with ``policy``'s draws from ``generator``, applied one image at a time."""
    return apply_stages_reference(x, policy.stages(x, generator), policy.fill)
