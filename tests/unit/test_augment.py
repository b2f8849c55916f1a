import pytest
import torch
from scipy.stats import chisquare

from al4ml.augment import AUGMENTATIONS, create_augmentation
from al4ml.augment.ops import OP_INDEX, OPS, apply_op
from al4ml.augment.policies import DEEPAUGMENT_POLICY
from al4ml.augment.reference import apply_stages_reference, reference_op, reference_policy
from al4ml.augment.spaces import autoaugment, standard, wide
from al4ml.errors import ConfigError

LEVELS = {"standard": (0, 5, 11, 17, 23, 30), "wide": (0, 6, 13, 20, 30), "autoaugment": (0, 2, 5, 7, 9)}


def images(channels: int, n: int = 24, seed: int = 0) -> torch.Tensor:
    """Smooth-ish natural-like images plus noise, with flat and full-range members."""
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(
        torch.rand(n, channels, 7, 7, generator=g) * 255, size=(28, 28), mode="bilinear"
    )
    x = (base + torch.randn(n, channels, 28, 28, generator=g) * 20).clamp(0, 255)
    x = x.to(torch.uint8)
    x[0] = 77  # a constant image (auto_contrast / equalize edge case)
    x[1, :, :14] = 0
    x[1, :, 14:] = 255
    return x


def spaces():
    return {"standard": standard(), "wide": wide(), "autoaugment": autoaugment(28, 28)}


def parity_cases():
    for space_name, space in spaces().items():
        for op_name in OPS:
            if op_name not in space.ops:
                continue
            for level in LEVELS[space_name]:
                for negative in (False, True) if bool(space.signed[OP_INDEX[op_name]]) else (False,):
                    yield space_name, op_name, level, negative


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("space_name, op_name, level, negative", list(parity_cases()))
def test_batched_op_matches_torchvision_image_by_image(channels, space_name, op_name, level, negative):
    space = spaces()[space_name]
    x = images(channels)
    n = len(x)
    op = torch.full((n,), OP_INDEX[op_name])
    value = space.value(op, torch.full((n,), level), torch.full((n,), negative))
    out = apply_op(x, op, value)
    ref = torch.stack([reference_op(img, op_name, float(value[0])) for img in x])
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert torch.equal(out, ref)


@pytest.mark.parametrize("channels", [1, 3])
def test_mixed_ops_in_one_batch_match_per_image_reference(channels):
    x = images(channels, n=len(OPS) * 4, seed=3)
    op = torch.arange(len(OPS)).repeat(4)
    g = torch.Generator().manual_seed(0)
    value = standard().value(
        op.clamp(max=13), torch.randint(31, (len(op),), generator=g), torch.rand(len(op), generator=g) < 0.5
    )
    stages = [(op, value)]
    out = apply_op(x, op, value)
    ref = apply_stages_reference(x, stages)
    assert torch.equal(out, ref)


@pytest.mark.parametrize("channels", [1, 3])
def test_sharpness_keeps_the_border_and_constant_images_for_every_factor(channels):
    factors = torch.linspace(0, 2, 101)
    op = torch.full((101,), OP_INDEX["sharpness"])
    flat = torch.full((101, channels, 28, 28), 77, dtype=torch.uint8)
    assert torch.equal(apply_op(flat, op, factors), flat)
    x = images(channels, n=101, seed=5)
    out = apply_op(x, op, factors)
    assert torch.equal(out[:, :, [0, -1]], x[:, :, [0, -1]])
    assert torch.equal(out[:, :, :, [0, -1]], x[:, :, :, [0, -1]])
    ref = torch.stack([reference_op(img, "sharpness", float(f)) for img, f in zip(x, factors, strict=True)])
    assert torch.equal(out, ref)


def test_fill_value_outside_the_image():
    x = torch.full((2, 1, 28, 28), 200, dtype=torch.uint8)
    op = torch.full((2,), OP_INDEX["translate_x"])
    out = apply_op(x, op, torch.tensor([5.0, -5.0]), fill=128.0)
    ref = torch.stack([reference_op(x[i], "translate_x", v, fill=128.0) for i, v in enumerate((5.0, -5.0))])
    assert torch.equal(out, ref) and int((out == 128).sum()) == 2 * 28 * 5


def distinct(x: torch.Tensor) -> int:
    return len(torch.unique(x.flatten(1), dim=0))


def test_trivialaugment_is_per_sample():
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (1, 3, 28, 28), dtype=torch.uint8, generator=g)
    batch = noise.expand(512, -1, -1, -1).contiguous()
    policy = create_augmentation("trivialaugment")
    out = policy(batch, torch.Generator().manual_seed(1))
    ref = reference_policy(policy, batch, torch.Generator().manual_seed(2))
    n_ours, n_ref = distinct(out), distinct(ref)
    assert n_ours >= 150
    assert abs(n_ours - n_ref) <= 0.15 * n_ref


def test_trivialaugment_op_and_level_frequencies_are_uniform():
    policy = create_augmentation("trivialaugment")
    [(op, value)] = policy.draw(120_000, 28, 28, torch.Generator().manual_seed(0), torch.device("cpu"))
    space = standard()
    ids = space.op_ids(torch.device("cpu"))
    counts = torch.stack([(op == i).sum() for i in ids]).numpy()
    assert counts.sum() == 120_000
    assert chisquare(counts).pvalue > 1e-3
    enh = op == OP_INDEX["brightness"]
    levels = torch.round((value[enh] - 0.1) / 1.8 * 30).long()
    level_counts = torch.bincount(levels, minlength=31).numpy()
    assert len(level_counts) == 31 and chisquare(level_counts).pvalue > 1e-3


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_every_augmentation_is_seeded_uint8_and_shape_preserving(name, channels):
    aug = create_augmentation(name)
    x = images(channels, n=64)
    a = aug(x, torch.Generator().manual_seed(5))
    b = aug(x, torch.Generator().manual_seed(5))
    assert a.dtype == torch.uint8 and a.shape == x.shape and torch.equal(a, b)
    if name != "none":
        c = aug(x, torch.Generator().manual_seed(6))
        assert not torch.equal(a, c)


def test_randaugment_applies_exactly_two_ops_at_level_30():
    policy = create_augmentation("randaugment", n=2, m=30)
    x = images(3, n=200, seed=4)
    stages = policy.stages(x, torch.Generator().manual_seed(0))
    assert len(stages) == 2
    space = standard()
    for op, value in stages:
        assert set(op.tolist()) <= {OP_INDEX[o] for o in space.ops}
        assert torch.allclose(value.abs(), space.values[op, 30].abs().float())
    out = policy(x, torch.Generator().manual_seed(0))
    ref = apply_stages_reference(x, stages)
    assert float(((out.int() - ref.int()).abs() <= 1).float().mean()) >= 0.99


def test_deepaugment_draws_only_its_five_subpolicies():
    policy = create_augmentation("deepaugment")
    (op1, v1), (op2, v2) = policy.draw(5000, 28, 28, torch.Generator().manual_seed(0), torch.device("cpu"))
    identity = OP_INDEX["identity"]
    subs = [(OP_INDEX[a], OP_INDEX[b]) for (a, _), (b, _) in DEEPAUGMENT_POLICY]
    seen = set()
    for a, b in zip(op1.tolist(), op2.tolist(), strict=True):
        match = [i for i, (sa, sb) in enumerate(subs) if a in (sa, identity) and b in (sb, identity)]
        assert match, (OPS[a], OPS[b])
        if len(match) == 1:
            seen.add(match[0])
    assert seen == set(range(5))
    applied = (op1 != identity).float().mean()
    assert 0.4 < float(applied) < 0.65  # p = 0.5, plus the (color, identity) sub-policy's op


def test_autoaugment_uses_torchvision_policies():
    for policy in ("imagenet", "cifar10", "svhn"):
        aug = create_augmentation("autoaugment", policy=policy)
        assert aug(images(3), torch.Generator().manual_seed(0)).shape == (24, 3, 28, 28)
    with pytest.raises(ConfigError, match="imagenet, cifar10, svhn"):
        create_augmentation("autoaugment", policy="mnist")


def test_spaces_match_the_study_and_torchvision():
    s = standard()
    assert s.levels == 31 and len(s.ops) == 14
    v = s.values
    assert v[OP_INDEX["rotate"], 30] == 30 and v[OP_INDEX["solarize"], 0] == 256
    assert v[OP_INDEX["posterize"], 0] == 4 and v[OP_INDEX["posterize"], 30] == 0
    assert v[OP_INDEX["translate_x"], 30] == 10
    assert v[OP_INDEX["shear_x"], 30] == pytest.approx(0.3)
    assert v[OP_INDEX["contrast"], 0] == pytest.approx(0.1)
    w = wide()
    assert w.values[OP_INDEX["rotate"], 30] == 135 and w.values[OP_INDEX["translate_y"], 30] == 32
    assert w.value(
        torch.tensor([OP_INDEX["color"]]), torch.tensor([30]), torch.tensor([True])
    ).item() == pytest.approx(0.01)


def test_unknown_space_is_a_config_error():
    with pytest.raises(ConfigError, match="params.space: .*'narrow'.*one of: standard, wide"):
        create_augmentation("trivialaugment", space="narrow")


def test_option_choices_are_the_spaces_and_torchvision_policies_that_exist():
    from typing import get_args

    from torchvision.transforms import v2

    from al4ml.augment.policies import AutoAugmentPolicy, SpaceName
    from al4ml.augment.spaces import SPACES

    assert set(get_args(SpaceName)) == set(SPACES)
    assert set(get_args(AutoAugmentPolicy)) == {p.value for p in v2.AutoAugmentPolicy}


def test_a_cohort_augments_each_cells_batch_with_its_own_policy_and_draws():
    from al4ml.augment.policy import CohortAugment

    names = [("none", {}), ("trivialaugment", {}), ("randaugment", {"n": 2, "m": 30}), ("none", {})]
    policies = [create_augmentation(n, **p) for n, p in names]
    x = images(3, n=16, seed=7).repeat(len(names), 1, 1, 1)  # the same 16 images per cell
    out = CohortAugment(policies, [torch.Generator().manual_seed(s) for s in range(4)])(x)
    rows = out.view(4, 16, *x.shape[1:])
    assert torch.equal(rows[0], x[:16]) and torch.equal(rows[3], x[:16])  # none: untouched
    for k in (1, 2):
        alone = policies[k](x[:16], torch.Generator().manual_seed(k))
        assert torch.equal(rows[k], alone)  # exactly what the cell draws and applies alone
    assert not torch.equal(rows[1], x[:16]) and not torch.equal(rows[1], rows[2])
