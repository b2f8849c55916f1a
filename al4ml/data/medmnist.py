"""2D MedMNIST sets through the ``medmnist`` package's own dataset classes (offline)."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator

from al4ml.data import register_dataset
from al4ml.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from al4ml.data.base import ActiveDataset

SOURCE = "https://zenodo.org/records/10519652"


def medmnist_info() -> dict[str, dict[str, Any]]:
    """``medmnist.INFO`` (flags, tasks, labels)."""
    return _info_module().INFO


def default_root() -> Path:
    """Where ``medmnist`` keeps its files unless told otherwise (``~/.medmnist``)."""
    root = _info_module().DEFAULT_ROOT
    return Path(root) if root else Path.home() / ".medmnist"


@cache
def _info_module() -> Any:
    """``medmnist.info``: the flag table and default folder.

    It lives in ``medmnist/info.py``, which imports nothing heavy; the package's ``__init__``
    imports its torch datasets. Unless medmnist is already imported, that one file is read,
    so that checking a flag takes milliseconds.
    """
    if "medmnist" in sys.modules:
        return sys.modules["medmnist.info"]
    spec = importlib.util.find_spec("medmnist")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the medmnist package is not installed (pip install medmnist)")
    path = Path(next(iter(spec.submodule_search_locations))) / "info.py"
    info_spec = importlib.util.spec_from_file_location("al4ml_medmnist_info", path)
    if info_spec is None or info_spec.loader is None:
        raise DataError(f"the medmnist package has no readable {path}")
    module = importlib.util.module_from_spec(info_spec)
    info_spec.loader.exec_module(module)
    return module


def flags_2d() -> list[str]:
    """The 2D MedMNIST flags known to the installed ``medmnist`` package (all twelve)."""
    return sorted(f for f in medmnist_info() if not f.endswith("3d"))


def _known_flag(flag: str) -> str:
    if flag not in flags_2d():
        raise ValueError(f"unknown MedMNIST flag {flag!r}; choose from (2D): {', '.join(flags_2d())}")
    return flag


def task_of(flag: str = "breastmnist", **_: Any) -> str:
    """The MedMNIST task string of ``flag`` (``multi-label, binary-class`` for ChestMNIST)."""
    return medmnist_info()[flag]["task"] if flag in medmnist_info() else "multi-class"


Flag = Annotated[str, AfterValidator(_known_flag)]


def _split(cls: type, split: str, root: Path, size: int) -> tuple[torch.Tensor, np.ndarray]:
    import numpy as np
    import torch

    kwargs = {"size": size} if size != 28 else {}
    ds = cls(split=split, root=str(root), download=False, **kwargs)
    imgs = np.asarray(ds.imgs)
    x = torch.from_numpy(imgs).unsqueeze(1) if imgs.ndim == 3 else torch.from_numpy(imgs).permute(0, 3, 1, 2)
    return x.contiguous(), np.asarray(ds.labels)


def _download(cls: type, root: Path, size: int, filename: str, url: str) -> None:
    """``medmnist``'s own download of one file into ``root``; one line when it fails."""
    kwargs = {"size": size} if size != 28 else {}
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(split="train", root=str(root), download=True, **kwargs)
    except (RuntimeError, OSError) as e:
        first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise DataError(
            f"could not download {filename} to {root} ({first}); get it from {url} "
            f"and pass --set dataset.root=<its folder>"
        ) from None


@register_dataset("medmnist", task=task_of)
def medmnist(
    root: Path | None,
    flag: Flag = "breastmnist",
    size: Literal[28, 64, 128, 224] = 28,
    download: bool = False,
) -> ActiveDataset:
    """A 2D MedMNIST set (``flag``) read by medmnist's own classes; task from its INFO.

    Files are read from ``root`` (default: medmnist's own folder, ``~/.medmnist``); with
    ``download`` a missing file is fetched by medmnist's download first (needs the internet).
    Labels are class ids ``[N]``, or for the multi-label ChestMNIST its 14 findings ``[N, 14]``.
    """
    import medmnist as mm
    import numpy as np
    import torch

    from al4ml.data.base import ActiveDataset, DatasetInfo, LabeledSplit

    info = mm.INFO[flag]
    root = Path(root if root is not None else default_root()).expanduser().resolve()
    filename = f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"
    path = root / filename
    cls = getattr(mm, info["python_class"])
    if not path.is_file() and download:
        _download(cls, root, size, filename, info["url" if size == 28 else f"url_{size}"])
    if not path.is_file():
        raise DataError(
            f"MedMNIST file not found: {path}; pass --set dataset.root=<folder with "
            f"{filename}> or --set dataset.options.download=true (from {SOURCE})"
        )
    try:
        (xp, yp), (xv, yv), (xt, yt) = (_split(cls, s, root, size) for s in ("train", "val", "test"))
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(
            f"{path}: not a readable MedMNIST .npz file ({type(e).__name__}: {e}); "
            f"download {filename} again from {SOURCE}"
        ) from None
    classes = tuple(info["label"][str(i)] for i in range(len(info["label"])))
    meta = DatasetInfo(
        flag, classes, int(xp.shape[1]), (int(xp.shape[2]), int(xp.shape[3])), info["task"], source=str(path)
    )

    multi_label = meta.label_task.multi_label

    def labels(y: np.ndarray) -> torch.Tensor:
        y = y.reshape(len(y), -1).astype(np.int64)
        return torch.from_numpy(y if multi_label else y[:, 0])

    return ActiveDataset(meta, xp, labels(yp), LabeledSplit(xv, labels(yv)), LabeledSplit(xt, labels(yt)))
