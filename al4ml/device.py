"""Where and how work runs: device choice, input conversion, and the execution policy.

Data stays a uint8 tensor on the device; it becomes normalised float, channels-last in
memory (faster convolutions and pooling on CUDA and CPU), one batch at a time. One
:class:`Execution` per run says whether CUDA runs under bf16 autocast, replays CUDA graphs
and compiles; CPU runs in fp32, eagerly, and is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from al4ml.config import TrainingConfig
from al4ml.errors import ConfigError

M = TypeVar("M", bound=nn.Module)

MEAN, STD = 0.5, 0.5
"""Input normalisation of the seed study: ``(x / 255 - 0.5) / 0.5``."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but no CUDA device is available; choose from: auto, cpu")
    return torch.device(name)


def to_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` -> normalised float ``[B, C, H, W]``, channels-last in memory."""
    out = (x.to(torch.float32) * (1.0 / 255) - MEAN) / STD
    return out.contiguous(memory_format=torch.channels_last)


@dataclass(frozen=True)
class Execution:
    """How a run's work executes, decided once (:meth:`of`) from the training config and the
    device, and read by training, inference and the tracker.

    Attributes:
        device: Where data, models and every forward pass live.
        bf16: Forward passes under bf16 autocast (CUDA with ``training.bf16``; CPU: fp32).
        cuda_graph: Training steps replay a CUDA graph (:func:`al4ml.train.fit`).
        compile: The training network runs through ``torch.compile`` (CUDA only).

    Inputs and models are channels-last in memory everywhere (faster convolutions and pooling
    on CUDA and CPU); a model leaves that layout only when exported.
    """

    device: torch.device
    bf16: bool = False
    cuda_graph: bool = False
    compile: bool = False

    @classmethod
    def of(cls, device: torch.device, training: TrainingConfig | None = None) -> Execution:
        """The execution of ``training`` (default: its defaults) on ``device``.

        ``cuda_graph`` at its default falls back to eager steps on a torch whose graphs cannot
        replay the draws of the augmentation's own generators; set explicitly, it is an error
        there.

        Raises:
            ConfigError: ``cuda_graph: true`` set explicitly, on CUDA, with such a torch.
        """
        training = training or TrainingConfig()
        cuda = device.type == "cuda"
        return cls(
            device=device,
            bf16=training.bf16 and cuda,
            cuda_graph=_graphs(training) if cuda else False,
            compile=training.compile and cuda,
        )

    @property
    def exact_cohorts(self) -> bool:
        """Whether a cohort's models run apart (bit-identical to lone runs) rather than stacked.

        On CPU a cohort runs its K networks one after the other, so a cell's numbers do not
        depend on the cohort it trained in: grouped kernels save little there (measured in
        ``benchmarks/cohort_exact.py``). On CUDA the K models stack into one network, which
        is what makes cohorts fast, and a member's weights differ from a lone run's in the
        last bits (a grouped convolution sums in another order).
        """
        return self.device.type == "cpu"

    def autocast(self) -> torch.autocast:
        """The region every forward pass runs in: bf16 autocast, or plain fp32."""
        # No cast cache: a CUDA graph capture must not keep cached casts alive, and a training
        # step uses each weight once per autocast region anyway.
        return torch.autocast(
            device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16, cache_enabled=False
        )

    def place(self, model: M) -> M:
        """``model`` on the device, channels-last in memory (the layout of :func:`to_input`)."""
        return model.to(self.device).to(memory_format=torch.channels_last)

    def describe(self) -> str:
        """One line for the run's record, e.g. ``cuda bf16 cuda-graph`` or ``cpu fp32 eager``."""
        parts = [self.device.type, "bf16" if self.bf16 else "fp32"]
        parts += [p for p, on in (("cuda-graph", self.cuda_graph), ("compiled", self.compile)) if on]
        return " ".join(parts if len(parts) > 2 else [*parts, "eager"])


def _graphs(training: TrainingConfig) -> bool:
    if not training.cuda_graph:
        return False
    if hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        return True
    if "cuda_graph" not in training.model_fields_set:
        return False
    raise ConfigError(
        f"training.cuda_graph: torch {torch.__version__} cannot replay random "
        "draws of a custom generator in a CUDA graph; upgrade torch or set "
        "training.cuda_graph=false"
    )
