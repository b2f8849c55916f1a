"""Models: a registry of classifiers that expose logits and the penultimate embedding.

A builder is ``fn(in_channels, num_classes, **options) -> Classifier`` filed with
``@register_model``. Every model is a :class:`Classifier`: a ``features`` trunk producing
``[B, D]`` embeddings, optional dropout, and a linear ``head`` producing ``[B, C]`` logits.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.models import resnet18 as tv_resnet18

from al4ml.registry import Registry

MODELS: Registry = Registry("model")
register_model = MODELS.register


class Classifier(nn.Module):
    """``features`` -> dropout -> linear ``head``.

    Args:
        features: Module mapping ``[B, C_in, H, W]`` float images to ``[B, D]`` embeddings.
        embed_dim: D.
        num_classes: C.
        dropout: Dropout probability before the head (enables MC-dropout strategies).
    """

    def __init__(self, features: nn.Module, embed_dim: int, num_classes: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.features = features
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embed_dim, num_classes)
        self.embed_dim = embed_dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate embeddings ``[B, D]``."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]``."""
        return self.head(self.dropout(self.features(x)))

    def forward_with_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[B, C]`` and embeddings ``[B, D]`` from one pass."""
        emb = self.features(x)
        return self.head(self.dropout(emb)), emb


def create_model(name: str, in_channels: int, num_classes: int, **options: Any) -> Classifier:
    """Build model ``name`` for ``in_channels``-channel images and ``num_classes`` classes."""
    return MODELS.get(name).fn(in_channels, num_classes, **options)


@register_model("resnet18")
def resnet18(in_channels: int, num_classes: int, dropout: float = 0.0) -> Classifier:
    """ResNet-18 with the CIFAR/MedMNIST stem for 28 px: 3x3 conv, stride 1, no max-pool."""
    net = tv_resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return Classifier(net, 512, num_classes, dropout)


@register_model("tiny_cnn")
def tiny_cnn(in_channels: int, num_classes: int, width: int = 16,
             dropout: float = 0.0) -> Classifier:
    """Three conv blocks (fast on CPU): for quickstarts, tests and sanity checks."""

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    trunk = nn.Sequential(
        block(in_channels, width), nn.MaxPool2d(2),
        block(width, 2 * width), nn.MaxPool2d(2),
        block(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    return Classifier(trunk, 4 * width, num_classes, dropout)


__all__ = ["MODELS", "Classifier", "create_model", "register_model"]
