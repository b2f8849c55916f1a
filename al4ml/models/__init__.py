"""Models: a registry of classifiers that expose logits and the penultimate embedding.

A builder is ``fn(in_channels, num_classes, **options) -> Classifier`` filed with
``@register_model``; its keyword options are validated from its signature before a run.
Every model is a :class:`~al4ml.models.classifier.Classifier`: a ``features`` trunk producing
``[B, D]`` embeddings, optional dropout, and a linear ``head`` producing ``[B, C]`` logits.
Builders import torch in their bodies, so this registry loads without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, cast

from pydantic import Field

from al4ml.registry import Registry, load_plugins

if TYPE_CHECKING:
    from al4ml.models.classifier import Classifier

MODELS: Registry = Registry("model", inputs=("in_channels", "num_classes"))
register_model = MODELS.register

Dropout = Annotated[float, Field(ge=0, lt=1)]
"""Dropout probability in front of the head (0 disables MC-dropout strategies)."""


def create_model(name: str, in_channels: int, num_classes: int, **options: Any) -> Classifier:
    """Build model ``name`` for ``in_channels``-channel images and ``num_classes`` classes."""
    entry = MODELS.get(name)
    entry.check("model", options, "model.options")
    return entry.fn(in_channels, num_classes, **options)


@register_model("resnet18")
def resnet18(in_channels: int, num_classes: int, dropout: Dropout = 0.0) -> Classifier:
    """ResNet-18 with the CIFAR/MedMNIST stem for 28 px: 3x3 conv, stride 1, no max-pool."""
    from torch import nn
    from torchvision.models import resnet18 as tv_resnet18

    from al4ml.models.classifier import Classifier

    net = tv_resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return Classifier(net, 512, num_classes, dropout)


@register_model("tiny_cnn")
def tiny_cnn(
    in_channels: int,
    num_classes: int,
    width: Annotated[int, Field(ge=1, le=1024)] = 16,
    dropout: Dropout = 0.0,
) -> Classifier:
    """Three conv blocks (fast on CPU): for quickstarts, tests and sanity checks."""
    from torch import nn

    from al4ml.models.classifier import Classifier

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )

    trunk = nn.Sequential(
        block(in_channels, width),
        nn.MaxPool2d(2),
        block(width, 2 * width),
        nn.MaxPool2d(2),
        block(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return Classifier(trunk, 4 * width, num_classes, dropout)


@register_model("simple_cnn")
def simple_cnn(
    in_channels: int,
    num_classes: int,
    hidden: Annotated[int, Field(ge=1, le=8192)] = 400,
    dropout: Dropout = 0.0,
) -> Classifier:
    """A plain conv-net for large images (the LC25000 setup at 224 px): about 12 M parameters.

    Five blocks of 3x3 conv (32, 64, 128, 256, 512 channels), BatchNorm, ReLU and 2x2
    max-pool (224 -> 7 px), an adaptive average pool to 7 x 7 (so any input size works),
    then a ``512 * 7 * 7 -> hidden`` dense layer with ReLU as the embedding. With 5 classes
    and ``hidden = 400``: 1.57 M conv + 10.04 M dense + 2 k head = 11.6 M trainable
    parameters (most of them in the dense layer, as in classic CNNs of this size).
    """
    from torch import nn

    from al4ml.models.classifier import Classifier

    layers: list[nn.Module] = []
    cin = in_channels
    for cout in (32, 64, 128, 256, 512):
        layers += [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, ceil_mode=True),
        ]
        cin = cout
    trunk = nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(512 * 7 * 7, hidden), nn.ReLU(inplace=True)
    )
    return Classifier(trunk, hidden, num_classes, dropout)


Weights = Annotated[str | None, Field(min_length=1)]
"""A local checkpoint (a state dict saved with ``torch.save``) to start from; clusters are often offline."""


def _load_weights(net: Any, path: str) -> None:
    """Load ``path`` into ``net``; a classifier head of another class count is left out."""
    import pickle
    import struct

    import torch

    from al4ml.errors import DataError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, struct.error) as e:
        raise DataError(f"model.options.weights: cannot read {path}: {e}") from None
    if not isinstance(state, dict):
        raise DataError(f"model.options.weights: {path} is not a state dict")
    state = state.get("state_dict", state)
    own = net.state_dict()
    kept = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not kept:
        raise DataError(
            f"model.options.weights: {path} holds no weight of this model "
            f"(first keys: {', '.join(list(state)[:3])})"
        )
    net.load_state_dict(kept, strict=False)


@register_model("timm")
def timm_model(
    in_channels: int,
    num_classes: int,
    arch: Annotated[str, Field(min_length=1)] = "resnet18",
    weights: Weights = None,
    dropout: Dropout = 0.0,
) -> Classifier:
    """Any timm architecture (``model.name: timm:<arch>``) as a trunk with al4ml's head.

    timm builds it without a classifier (``num_classes=0``: pooled ``[B, D]`` features) for
    the dataset's channels; ``weights`` loads a local checkpoint (a head for another class
    count is skipped). Needs ``pip install -e ".[timm]"``.
    """
    from al4ml.errors import ConfigError
    from al4ml.models.classifier import Classifier

    try:
        import timm
    except ImportError:
        raise ConfigError("model 'timm' needs timm: pip install -e \".[timm]\"") from None
    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch.split('_')[0]}*")[:8]
        raise ConfigError(
            f"model.options.arch: timm has no model {arch!r}"
            + (f"; similar: {', '.join(close)}" if close else "")
        )
    net = timm.create_model(arch, pretrained=False, num_classes=0, in_chans=in_channels)
    if weights:
        _load_weights(net, weights)
    return Classifier(net, cast(int, net.num_features), num_classes, dropout)


load_plugins("al4ml.models")


def __getattr__(name: str) -> Any:
    """``al4ml.models.Classifier`` without importing torch until it is asked for."""
    if name == "Classifier":
        from al4ml.models.classifier import Classifier

        return Classifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MODELS", "Classifier", "create_model", "register_model"]
