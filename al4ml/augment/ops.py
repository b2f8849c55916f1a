"""Batched, per-sample image ops on uint8 ``[B, C, H, W]`` tensors (C = 1 or 3).

Every op takes a per-sample value tensor ``[B]`` and follows the semantics of the matching
``torchvision.transforms.v2.functional`` op (the reference the tests compare against).
:func:`apply_op` applies a *different* op to each image: all geometric ops of a batch go
through one affine warp with per-sample matrices, all blend-type colour ops through one
blend, and the rest are elementwise or batched histogram kernels selected by
``torch.where`` — no Python loop over images and no host synchronisation, so the whole step
can be compiled (``torch.compile``) or captured in a CUDA graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as tnf

OPS: tuple[str, ...] = (
    "identity",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
    "rotate",
    "brightness",
    "color",
    "contrast",
    "sharpness",
    "posterize",
    "solarize",
    "auto_contrast",
    "equalize",
    "invert",
)
"""Every op al4ml knows, in a fixed order: a stage's ``op`` tensor holds indices into it."""

OP_INDEX: dict[str, int] = {name: i for i, name in enumerate(OPS)}
GEOMETRIC = ("shear_x", "shear_y", "translate_x", "translate_y", "rotate")
ENHANCERS = ("brightness", "color", "contrast", "sharpness")


def _is(op: torch.Tensor, name: str) -> torch.Tensor:
    return op == OP_INDEX[name]


def affine_matrices(op: torch.Tensor, value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Per-sample inverse affine matrices ``[B, 2, 3]`` (torchvision's convention).

    Shears are about the top-left corner (``center=[0, 0]``, as torchvision's auto-augment
    ops), rotations and translations about the image centre. Non-geometric ops get identity.

    Args:
        op: ``[B]`` op indices into :data:`OPS`.
        value: ``[B]`` shear coefficient, translation in pixels, or rotation in degrees.
        height: Image height H.
        width: Image width W.
    """
    v = value.to(torch.float64)
    zero = torch.zeros_like(v)
    shear_x, shear_y = _is(op, "shear_x"), _is(op, "shear_y")
    corner = shear_x | shear_y
    rot = torch.where(_is(op, "rotate"), torch.deg2rad(-v), zero)
    sx = torch.where(shear_x, torch.atan(v), zero)
    sy = torch.where(shear_y, torch.atan(v), zero)
    tx = torch.where(_is(op, "translate_x"), v, zero)
    ty = torch.where(_is(op, "translate_y"), v, zero)
    cx = torch.where(corner, zero - width * 0.5, zero)
    cy = torch.where(corner, zero - height * 0.5, zero)
    # torchvision.transforms.v2.functional._geometry._get_inverse_affine_matrix, vectorised.
    cos_sy, tan_sx = torch.cos(sy), torch.tan(sx)
    a = torch.cos(rot - sy) / cos_sy
    b = -(a * tan_sx + torch.sin(rot))
    c = torch.sin(rot - sy) / cos_sy
    d = torch.cos(rot) - c * tan_sx
    m0, m1, m3, m4 = d, -b, -c, a
    m2 = cx - m0 * (cx + tx) - m1 * (cy + ty)
    m5 = cy - m3 * (cx + tx) - m4 * (cy + ty)
    return torch.stack([m0, m1, m2, m3, m4, m5], dim=-1).view(-1, 2, 3).to(torch.float32)


def warp(x: torch.Tensor, theta: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Nearest-neighbour affine warp of each image by its own matrix.

    Args:
        x: uint8 ``[B, C, H, W]``.
        theta: ``[B, 2, 3]`` inverse matrices from :func:`affine_matrices`.
        fill: Value for pixels that come from outside the image.
    """
    b, c, h, w = x.shape
    dev = x.device
    xs = torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=dev)
    ys = torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=dev)
    base = torch.stack(
        [xs.expand(h, w), ys.unsqueeze(-1).expand(h, w), torch.ones(h, w, device=dev)], dim=-1
    ).view(1, h * w, 3)
    scale = torch.stack([torch.full((), 0.5 * w, device=dev), torch.full((), 0.5 * h, device=dev)])
    grid = base.expand(b, -1, -1).bmm(theta.transpose(1, 2) / scale).view(b, h, w, 2)
    img = x.to(torch.float32)
    if fill != 0:
        img = torch.cat([img, torch.ones(b, 1, h, w, device=dev)], dim=1)
    out = tnf.grid_sample(img, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    if fill != 0:
        out, mask = out[:, :c], out[:, c:]
        out = torch.where(mask < 0.5, torch.full_like(out, float(fill)), out)
    return out.round_().to(torch.uint8)


def _grayscale_floor(x: torch.Tensor) -> torch.Tensor:
    """float ``[B, 1, H, W]``: floor of torchvision's ITU-R 601 luma for RGB, the image for grey.

    The same ops in the same order as torchvision's ``_rgb_to_grayscale_image`` (a multiply,
    then two fused multiply-adds), so the floor lands on the same grey level.
    """
    if x.shape[1] == 1:
        return x.to(torch.float32)
    r, g, b = x.unbind(dim=1)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).floor_().unsqueeze(1)


def _blurred_inner(x: torch.Tensor) -> torch.Tensor:
    """float ``[B, C, H-2, W-2]``: torchvision's sharpness degenerate (rounded 3x3 smoothing)."""
    c = x.shape[1]
    a, b = 1.0 / 13.0, 5.0 / 13.0
    centre = torch.arange(9, device=x.device).view(3, 3) == 4
    kernel = torch.where(centre, b, a).to(torch.float32).expand(c, 1, 3, 3)
    return tnf.conv2d(x.to(torch.float32), kernel, groups=c).round_()


def blend_enhance(x: torch.Tensor, op: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """brightness / color / contrast / sharpness with per-sample factors ``f``.

    Rounded exactly as torchvision computes them: brightness, color and contrast are
    torchvision's ``_blend``, ``x * f + d * (1 - f)`` as a product and one fused
    multiply-add (``addcmul``), with the degenerate ``d`` black, the floored greyscale or
    its mean; sharpness is ``x + (1 - f) * (blur - x)`` on the interior only, so the 1-pixel
    border and constant images come back unchanged. The float result is clamped and
    truncated to uint8. Samples whose op is none of these come back unchanged.
    """
    b, c, h, w = x.shape
    gray = _grayscale_floor(x)
    o = op.view(-1, 1, 1, 1)
    mean = gray.mean(dim=(1, 2, 3), keepdim=True)
    degenerate = torch.where(
        o == OP_INDEX["brightness"],
        torch.zeros_like(gray),
        torch.where(o == OP_INDEX["contrast"], mean, gray),
    )
    f = factor.to(torch.float32).view(-1, 1, 1, 1)
    one_minus = (1.0 - factor.to(torch.float64)).to(torch.float32).view(-1, 1, 1, 1)
    out = torch.addcmul(x.mul(f), degenerate, one_minus)
    if h > 2 and w > 2:  # torchvision leaves images of 2 px or less unsharpened
        inner = x[:, :, 1:-1, 1:-1].to(torch.float32)
        sharp = torch.addcmul(inner, _blurred_inner(x) - inner, one_minus)
        sharp = tnf.pad(sharp, (1, 1, 1, 1))
        border = torch.ones(h, w, dtype=torch.bool, device=x.device)
        border[1:-1, 1:-1] = False
        sharp = torch.where(border, x.to(torch.float32), sharp)
        out = torch.where(o == OP_INDEX["sharpness"], sharp, out)
    out = out.clamp_(0, 255).to(torch.uint8)
    active = (o == OP_INDEX["brightness"]) | (o == OP_INDEX["contrast"])
    if h > 2 and w > 2:
        active = active | (o == OP_INDEX["sharpness"])
    if c == 3:  # torchvision's saturation leaves single-channel images unchanged
        active = active | (o == OP_INDEX["color"])
    return torch.where(active, out, x)


def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Keep the ``bits`` ``[B]`` (0..8) most significant bits of every pixel."""
    shift = (8 - bits.to(torch.int32)).clamp(0, 8).view(-1, 1, 1, 1)
    mask = (torch.full_like(shift, 0xFF) << shift) & 0xFF
    return (x.to(torch.int32) & mask).to(torch.uint8)


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Invert pixels ``>= threshold`` ``[B]`` (a threshold above 255 inverts nothing)."""
    return torch.where(x.to(torch.float32) >= threshold.view(-1, 1, 1, 1), 255 - x, x)


def auto_contrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch each image channel to the full 0..255 range (constant channels unchanged)."""
    xf = x.to(torch.float32)
    lo = xf.amin(dim=(-2, -1), keepdim=True)
    hi = xf.amax(dim=(-2, -1), keepdim=True)
    flat = hi == lo
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    inv_scale = torch.where(flat, torch.ones_like(hi), (hi - lo) * (1.0 / 255))
    return ((xf - lo) / inv_scale).clamp_(0, 255).to(torch.uint8)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per image channel (torchvision's batched kernel, PIL's LUT)."""
    from torchvision.transforms.v2 import functional as F  # imported (1.3 s) only when used

    return F.equalize_image(x)


def apply_op(x: torch.Tensor, op: torch.Tensor, value: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Apply op ``op[i]`` with value ``value[i]`` to image ``x[i]``, for the whole batch at once.

    Args:
        x: uint8 ``[B, C, H, W]``.
        op: int64 ``[B]`` indices into :data:`OPS`.
        value: float ``[B]``: the op's parameter (shear coefficient, pixels, degrees, factor,
            bits, threshold); ignored by ops without one.
        fill: Fill value for geometric ops.

    Returns:
        uint8 ``[B, C, H, W]``.
    """
    _, _, h, w = x.shape
    o = op.view(-1, 1, 1, 1)
    geometric = torch.zeros_like(o, dtype=torch.bool)
    for name in GEOMETRIC:
        geometric = geometric | (o == OP_INDEX[name])
    out = torch.where(geometric, warp(x, affine_matrices(op, value, h, w), fill), x)
    out = blend_enhance(out, op, value)
    out = torch.where(o == OP_INDEX["posterize"], posterize(out, value), out)
    out = torch.where(o == OP_INDEX["solarize"], solarize(out, value), out)
    out = torch.where(o == OP_INDEX["auto_contrast"], auto_contrast(out), out)
    out = torch.where(o == OP_INDEX["equalize"], equalize(out), out)
    return torch.where(o == OP_INDEX["invert"], 255 - out, out)
