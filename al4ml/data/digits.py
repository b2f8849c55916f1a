"""scikit-learn's handwritten digits: real 8x8 images, bundled with sklearn (no download)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from al4ml.data import register_dataset

if TYPE_CHECKING:
    from al4ml.data.base import ActiveDataset


@register_dataset("digits")
def digits(root: Path | None, size: Annotated[int, Field(ge=8, le=512)] = 28) -> ActiveDataset:
    """scikit-learn digits (1,797 images, 10 classes), upscaled to size x size, offline."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from al4ml.data.base import ActiveDataset, DatasetInfo, LabeledSplit

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    x = torch.from_numpy(images).unsqueeze(1)
    if size != 8:  # torch's uint8 antialiased bilinear: torchvision's resize, bit for bit
        x = torch.nn.functional.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    y = torch.from_numpy(bunch.target.astype(np.int64))
    idx = np.arange(len(y))
    pool_idx, rest = train_test_split(idx, test_size=0.3, stratify=y, random_state=0)
    val_idx, test_idx = train_test_split(rest, test_size=2 / 3, stratify=y[rest], random_state=0)
    info = DatasetInfo(
        "digits", tuple(str(c) for c in range(10)), 1, (size, size), source="sklearn.datasets.load_digits"
    )
    return ActiveDataset(
        info,
        x[pool_idx],
        y[pool_idx],
        LabeledSplit(x[val_idx], y[val_idx]),
        LabeledSplit(x[test_idx], y[test_idx]),
    )
