"""2D MedMNIST sets through the ``medmnist`` package's own dataset classes (offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from al4ml.data import register_dataset
from al4ml.data.base import ActiveDataset, DatasetInfo, LabeledSplit
from al4ml.errors import ConfigError, DataError

SOURCE = "https://zenodo.org/records/10519652"


def flags_2d() -> list[str]:
    """The 2D MedMNIST flags known to the installed ``medmnist`` package."""
    from medmnist import INFO

    return sorted(f for f in INFO if not f.endswith("3d"))


def _split(cls: type, split: str, root: Path, size: int) -> tuple[torch.Tensor, np.ndarray]:
    kwargs = {"size": size} if size != 28 else {}
    ds = cls(split=split, root=str(root), download=False, **kwargs)
    imgs = np.asarray(ds.imgs)
    x = torch.from_numpy(imgs).unsqueeze(1) if imgs.ndim == 3 else torch.from_numpy(imgs).permute(0, 3, 1, 2)
    return x.contiguous(), np.asarray(ds.labels)


@register_dataset("medmnist")
def medmnist(root: Path | None, flag: str = "breastmnist", size: int = 28) -> ActiveDataset:
    """A 2D MedMNIST set (``flag``) read from ``root`` with download=False; task from its INFO."""
    import medmnist as mm

    choices = flags_2d()
    if flag not in choices:
        raise ConfigError(f"dataset.options.flag: unknown MedMNIST flag {flag!r}; "
                          f"choose from: {', '.join(choices)}")
    info = mm.INFO[flag]
    if "multi-label" in info["task"]:
        raise ConfigError(f"dataset.options.flag: {flag!r} is a multi-label task "
                          f"({info['task']}); al4ml's strategies assume one label per image")
    root = Path(root if root is not None else Path.home() / ".medmnist").expanduser().resolve()
    filename = f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"
    path = root / filename
    if not path.is_file():
        raise DataError(f"MedMNIST file not found: {path} (get {filename} from {SOURCE} "
                        "and set dataset.root to its folder)")
    cls = getattr(mm, info["python_class"])
    try:
        (xp, yp), (xv, yv), (xt, yt) = (_split(cls, s, root, size) for s in ("train", "val", "test"))
    except (KeyError, ValueError, OSError) as e:
        raise DataError(f"{path}: not a MedMNIST .npz file ({e})") from None
    classes = tuple(info["label"][str(i)] for i in range(len(info["label"])))
    meta = DatasetInfo(flag, classes, int(xp.shape[1]), (int(xp.shape[2]), int(xp.shape[3])),
                       info["task"])

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(y.reshape(len(y), -1)[:, 0].astype(np.int64))

    return ActiveDataset(meta, xp, labels(yp), LabeledSplit(xv, labels(yv)),
                         LabeledSplit(xt, labels(yt)))
