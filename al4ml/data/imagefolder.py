"""A ``train/ val/ test/`` tree of class folders (the LC25000 layout), decoded with Pillow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from al4ml.data import register_dataset
from al4ml.errors import DataError

if TYPE_CHECKING:
    import torch

    from al4ml.data.base import ActiveDataset

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _read_image(path: Path, mode: str) -> torch.Tensor:
    """uint8 ``[C, H, W]`` of one file, converted to Pillow mode ``L`` or ``RGB``."""
    from PIL import Image
    from torchvision.transforms.v2 import functional as F

    try:
        with Image.open(path) as img:
            return F.pil_to_tensor(img.convert(mode))
    except OSError as e:  # Pillow's UnidentifiedImageError is an OSError too
        raise DataError(f"cannot read image {path}: {e}") from None


def _read_split(folder: Path, classes: list[str], size: int, mode: str
                ) -> tuple[torch.Tensor, torch.Tensor]:
    import torch
    from torchvision.transforms.v2 import functional as F

    images, labels = [], []
    for label, name in enumerate(classes):
        if not (folder / name).is_dir():
            raise DataError(f"{folder} has no folder for class {name!r} (the classes are the "
                            f"folders of {folder.parent / 'train'})")
        files = sorted(p for p in (folder / name).glob("*") if p.suffix.lower() in EXTENSIONS)
        if not files:
            raise DataError(f"class folder {folder / name} holds no images ({', '.join(EXTENSIONS)}); "
                            "remove it or add its images")
        for path in files:
            images.append(F.resize(_read_image(path, mode), [size, size], antialias=True))
            labels.append(label)
    if not images:
        raise DataError(f"no images found under {folder}")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


@register_dataset("imagefolder")
def imagefolder(root: Path | None, size: Annotated[int, Field(ge=8, le=1024)] = 28,
                channels: Literal[1, 3] = 3) -> ActiveDataset:
    """Class-folder tree root/{train,val,test}/<class>/*.png, resized to size x size."""
    from al4ml.data.base import ActiveDataset, DatasetInfo, LabeledSplit

    if root is None or not (root / "train").is_dir():
        raise DataError(f"image folder not found: {root}/train (expected train/ val/ test/ "
                        "folders, each with one sub-folder per class)")
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    mode = "L" if channels == 1 else "RGB"
    splits = {}
    for split in ("train", "val", "test"):
        if not (root / split).is_dir():
            raise DataError(f"image folder not found: {root / split}")
        splits[split] = _read_split(root / split, classes, size, mode)
    info = DatasetInfo(root.name, tuple(classes), channels, (size, size), source=str(root))
    return ActiveDataset(info, *splits["train"], LabeledSplit(*splits["val"]),
                         LabeledSplit(*splits["test"]))
