"""The registered augmentation policies and their options.

Each builder's signature is its option schema (checked before a run starts); the batched
machinery lives in :mod:`al4ml.augment.policy` and is imported when a policy is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from al4ml.augment import register_augmentation

if TYPE_CHECKING:
    from al4ml.augment.policy import Policy

SpaceName = Literal["standard", "wide"]
"""Magnitude spaces a user can name (``al4ml.augment.spaces.SPACES``)."""

AutoAugmentPolicy = Literal["imagenet", "cifar10", "svhn"]
"""torchvision's ``AutoAugmentPolicy`` values."""

Level = Annotated[int, Field(ge=0, le=30)]
"""A magnitude level of the 31-level spaces."""

Fill = Annotated[float, Field(ge=0, le=255)]
"""Grey level of pixels that geometric ops bring in from outside the image."""

DEEPAUGMENT_POLICY = (
    (("brightness", 0), ("brightness", 3)),
    (("shear_y", 19), ("sharpness", 4)),
    (("solarize", 24), ("translate_y", 26)),
    (("posterize", 7), ("contrast", 24)),
    (("color", 25), ("identity", 9)),
)
"""The seed study's fixed DeepAugment policy: five sub-policies of two (op, level) pairs."""


@register_augmentation("none")
def none() -> Policy:
    """No augmentation (the study's baseline: only normalisation)."""
    from al4ml.augment import policy as pol

    return pol.Policy("none", lambda b, h, w, g, d: [])


@register_augmentation("trivialaugment")
def trivialaugment(space: SpaceName = "standard", top: Level = 30, fill: Fill = 0.0) -> Policy:
    """TrivialAugment: one uniform op at one uniform level in [0, top] per image (space standard|wide)."""
    from al4ml.augment import policy as pol

    sp = pol.space(space)
    return pol.Policy("trivialaugment", lambda b, h, w, g, d: [pol.uniform_stage(sp, b, g, d, top=top)], fill)


@register_augmentation("randaugment")
def randaugment(
    n: Annotated[int, Field(ge=0, le=14)] = 2, m: Level = 30, space: SpaceName = "standard", fill: Fill = 0.0
) -> Policy:
    """RandAugment(n, m): n uniform ops per image, each at level m (the study used 2, 30)."""
    from al4ml.augment import policy as pol

    sp = pol.space(space)
    return pol.Policy(
        "randaugment", lambda b, h, w, g, d: [pol.uniform_stage(sp, b, g, d, level=m) for _ in range(n)], fill
    )


@register_augmentation("uniaugment")
def uniaugment(space: SpaceName = "standard", fill: Fill = 0.0) -> Policy:
    """UniAugment: two uniform ops at uniform levels, each applied with probability 0.5."""
    from al4ml.augment import policy as pol

    sp = pol.space(space)
    return pol.Policy(
        "uniaugment", lambda b, h, w, g, d: [pol.uniform_stage(sp, b, g, d, p=0.5) for _ in range(2)], fill
    )


@register_augmentation("deepaugment")
def deepaugment(fill: Fill = 0.0) -> Policy:
    """The study's fixed DeepAugment policy: one of five sub-policies, each op with p = 0.5."""
    from al4ml.augment import policy as pol
    from al4ml.augment.ops import OP_INDEX
    from al4ml.augment.spaces import standard

    sp = standard()
    subs = [[(OP_INDEX[o], 0.5, lv) for o, lv in sub] for sub in DEEPAUGMENT_POLICY]
    return pol.Policy("deepaugment", pol.subpolicy_draw(subs, lambda h, w: sp), fill)


@register_augmentation("autoaugment")
def autoaugment_policy(policy: AutoAugmentPolicy = "imagenet", fill: Fill = 0.0) -> Policy:
    """torchvision's AutoAugment sub-policies (imagenet|cifar10|svhn), drawn per image."""
    from torchvision.transforms import v2

    from al4ml.augment import policy as pol
    from al4ml.augment.ops import OP_INDEX
    from al4ml.augment.spaces import TV_NAMES, autoaugment

    subs = [
        [(OP_INDEX[TV_NAMES[name]], prob, lv or 0) for name, prob, lv in sub]
        for sub in v2.AutoAugment(v2.AutoAugmentPolicy(policy))._policies
    ]
    return pol.Policy("autoaugment", pol.subpolicy_draw(subs, autoaugment), fill)
