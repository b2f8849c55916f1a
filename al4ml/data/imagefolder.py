"""A ``train/ val/ test/`` tree of class folders (the LC25000 layout), decoded by torchvision."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as F

from al4ml.data import register_dataset
from al4ml.data.base import ActiveDataset, DatasetInfo, LabeledSplit
from al4ml.errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _read_split(folder: Path, classes: list[str], size: int, mode: ImageReadMode
                ) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (folder / name).glob("*") if p.suffix.lower() in EXTENSIONS)
        for path in files:
            with warnings.catch_warnings():  # torchvision >= 0.29 points to torchcodec
                warnings.simplefilter("ignore", DeprecationWarning)
                img = decode_image(str(path), mode=mode)
            images.append(F.resize(img, [size, size], antialias=True))
            labels.append(label)
    if not images:
        raise DataError(f"no images found under {folder}")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


@register_dataset("imagefolder")
def imagefolder(root: Path | None, size: int = 28, channels: int = 3) -> ActiveDataset:
    """Class-folder tree root/{train,val,test}/<class>/*.png, resized to size x size."""
    if root is None or not (root / "train").is_dir():
        raise DataError(f"image folder not found: {root}/train (expected train/ val/ test/ "
                        "folders, each with one sub-folder per class)")
    if channels not in (1, 3):
        raise DataError(f"dataset.options.channels must be 1 or 3, got {channels}")
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
    splits = {}
    for split in ("train", "val", "test"):
        if not (root / split).is_dir():
            raise DataError(f"image folder not found: {root / split}")
        splits[split] = _read_split(root / split, classes, size, mode)
    info = DatasetInfo(root.name, tuple(classes), channels, (size, size))
    return ActiveDataset(info, *splits["train"], LabeledSplit(*splits["val"]),
                         LabeledSplit(*splits["test"]))
