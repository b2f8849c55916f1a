"""What a dataset's labels are, and what follows from it for training, scoring and strategies.

Two kinds, in MedMNIST's vocabulary:

* ``multi-class`` (binary-class, ordinal regression and multi-class sets): one class per
  image, labels int64 ``[N]``; the network's C outputs go through a softmax; cross-entropy.
* ``multi-label`` (``multi-label, binary-class``: ChestMNIST's 14 findings): a 0/1 vector per
  image, labels int64 ``[N, L]``; L independent sigmoids; binary cross-entropy per finding.

Training (:mod:`al4ml.train`), scoring and metrics (:mod:`al4ml.infer`), BADGE's gradient
embeddings and config validation all ask this module, so the two kinds are one parameter of
the same code paths. Importing it does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MULTI_CLASS = "multi-class"
MULTI_LABEL = "multi-label"
KINDS = (MULTI_CLASS, MULTI_LABEL)


def kind_of(task: str) -> str:
    """``multi-label`` for MedMNIST's ``multi-label, binary-class``, else ``multi-class``."""
    return MULTI_LABEL if MULTI_LABEL in task else MULTI_CLASS


@dataclass(frozen=True)
class Task:
    """The label kind of a dataset (see the module docstring).

    Attributes:
        kind: ``multi-class`` or ``multi-label``.
    """

    kind: str = MULTI_CLASS

    @classmethod
    def of(cls, task: str) -> Task:
        """The task of a dataset whose MedMNIST-style task string is ``task``."""
        return cls(kind_of(task))

    @property
    def multi_label(self) -> bool:
        """Whether an image carries a 0/1 vector of findings."""
        return self.kind == MULTI_LABEL

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities from logits ``[..., C]`` (float32): softmax, or one sigmoid per label."""
        import torch

        logits = logits.float()
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-item loss ``[...]`` of logits ``[..., C]`` against labels ``[...]`` (class ids) or
        ``[..., L]`` (0/1): cross-entropy, or binary cross-entropy averaged over the labels."""
        import torch.nn.functional as tnf

        logits = logits.float()
        if self.multi_label:
            return tnf.binary_cross_entropy_with_logits(
                logits, labels.to(logits.dtype), reduction="none"
            ).mean(-1)
        flat = tnf.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none")
        return flat.view(labels.shape)

    def predicted(self, probs: torch.Tensor) -> torch.Tensor:
        """The model's own answer as a target ``[..., C]`` float: one-hot of the most likely
        class, or every label above 0.5 (BADGE's hypothetical label)."""
        import torch

        if self.multi_label:
            return (probs > 0.5).to(probs.dtype)
        return torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype)

    def label_shape(self, n_outputs: int) -> tuple[int, ...]:
        """The shape of one item's label: ``()`` for a class id, ``(L,)`` for findings."""
        return (n_outputs,) if self.multi_label else ()


MULTI_CLASS_TASK = Task(MULTI_CLASS)
