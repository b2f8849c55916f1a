"""Where and in which precision work runs: device choice, input conversion, autocast, graphs.

Data stays a uint8 tensor on the device; it becomes normalised float, channels-last in
memory (faster convolutions and pooling on CUDA and CPU), one batch at a time. CUDA runs
under bf16 autocast unless ``training.bf16`` is off; CPU runs in fp32 and is deterministic
for a seed.
"""

from __future__ import annotations

import torch

from al4ml.config import TrainingConfig
from al4ml.errors import ConfigError

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


def autocast(device: torch.device, bf16: bool = True) -> torch.autocast:
    """bf16 autocast on CUDA (unless ``bf16`` is off); plain fp32 elsewhere."""
    # No cast cache: a CUDA graph capture must not keep cached casts alive, and a training
    # step uses each weight once per autocast region anyway.
    return torch.autocast(
        device_type=device.type,
        dtype=torch.bfloat16,
        enabled=bf16 and device.type == "cuda",
        cache_enabled=False,
    )


def graphs_enabled(cfg: TrainingConfig, device: torch.device) -> bool:
    """Whether training on ``device`` replays CUDA graphs.

    ``cuda_graph`` at its default falls back to eager steps on a torch whose graphs cannot
    replay the draws of the augmentation's own generators; set explicitly, it is an error there.

    Raises:
        ConfigError: ``cuda_graph: true`` set explicitly, on CUDA, with such a torch.
    """
    if not (cfg.cuda_graph and device.type == "cuda"):
        return False
    if hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        return True
    if "cuda_graph" not in cfg.model_fields_set:
        return False
    raise ConfigError(
        f"training.cuda_graph: torch {torch.__version__} cannot replay random "
        "draws of a custom generator in a CUDA graph; upgrade torch or set "
        "training.cuda_graph=false"
    )


def exact_cohorts(device: torch.device) -> bool:
    """Whether a cohort's models run apart (bit-identical to lone runs) rather than stacked.

    On CPU a cohort runs its K networks one after the other, so a cell's numbers do not
    depend on the cohort it trained in: grouped kernels save little there (measured in
    ``benchmarks/cohort_exact.py``). On CUDA the K models stack into one network, which is
    what makes cohorts fast, and a member's weights differ from a lone run's in the last
    bits (a grouped convolution sums in another order).
    """
    return device.type == "cpu"
