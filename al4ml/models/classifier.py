"""The classifier contract every registered model fulfils: a trunk, dropout and a linear head."""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """``features`` -> dropout -> linear ``head``.

    Args:
        features: Module mapping ``[B, C_in, H, W]`` float images to ``[B, D]`` embeddings.
        embed_dim: D.
        num_classes: C.
        dropout: Dropout probability before the head (enables MC-dropout strategies).
    """

    def __init__(self, features: nn.Module, embed_dim: int, num_classes: int, dropout: float = 0.0) -> None:
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
