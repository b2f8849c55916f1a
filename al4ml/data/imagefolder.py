"""Class-folder image trees, decoded once with Pillow and cached.

Two layouts: ``root/{train,val,test}/<class>/*`` (split by the user), or ``root/<class>/*``
(the LC25000 download: no split) with ``split: [train, val, test]`` fractions, which al4ml
splits stratified and seeded by ``split_seed`` (not the experiment's seed, so every replicate
of an experiment sees the same data). Images are decoded and resized (antialiased) to
``size`` once; the uint8 result goes to a cache file named by a hash of the file list (paths,
sizes, modification times) and the decoding options, in ``root/.al4ml-cache/`` (or in
``~/.cache/al4ml/`` when ``root`` is read-only), so later runs load in seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from al4ml.data import register_dataset
from al4ml.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from al4ml.data.base import ActiveDataset

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLITS = ("train", "val", "test")
CACHE_DIR = ".al4ml-cache"
LC25000_CLASSES = ("colon_aca", "colon_n", "lung_aca", "lung_n", "lung_scc")
"""LC25000's five class folders (colon adenocarcinoma and benign, lung adenocarcinoma, benign
and squamous cell carcinoma)."""

Fraction = Annotated[float, Field(gt=0, lt=1)]


def _read_image(path: Path, mode: str, size: int) -> torch.Tensor:
    """uint8 ``[C, size, size]`` of one file, converted to Pillow mode ``L`` or ``RGB``."""
    from PIL import Image
    from torchvision.transforms.v2 import functional as F

    try:
        with Image.open(path) as img:
            return F.resize(F.pil_to_tensor(img.convert(mode)), [size, size], antialias=True)
    except OSError as e:  # Pillow's UnidentifiedImageError is an OSError too
        raise DataError(f"cannot read image {path}: {e}") from None


def _class_files(folder: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """``(file, label)`` for every image of ``classes`` under ``folder``, in a stable order."""
    out = []
    for label, name in enumerate(classes):
        if not (folder / name).is_dir():
            raise DataError(
                f"{folder} has no folder for class {name!r} (the classes are the "
                f"folders of {folder.parent / 'train'})"
            )
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in EXTENSIONS)
        if not files:
            raise DataError(
                f"class folder {folder / name} holds no images ({', '.join(EXTENSIONS)}); "
                "remove it or add its images"
            )
        out += [(p, label) for p in files]
    return out


def _subfolders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _layout(
    root: Path | None, split: tuple[float, float, float] | None
) -> tuple[list[str], dict[str, list[tuple[Path, int]]] | list[tuple[Path, int]]]:
    """The classes and the files: per split folder, or one list to split."""
    if root is None or not root.is_dir():
        raise DataError(
            f"image folder not found: {root} (expected train/ val/ test/ folders "
            "with one sub-folder per class, or class folders and dataset.options.split)"
        )
    folders = _subfolders(root)
    present = [s for s in SPLITS if s in folders]
    if present:
        loose = [f for f in folders if f not in SPLITS]
        if loose:
            raise DataError(
                f"{root} has both split folders ({', '.join(present)}) and other folders "
                f"({', '.join(loose)}); keep one layout: train/ val/ test/, or only "
                "class folders with dataset.options.split"
            )
        if split is not None:
            raise DataError(
                f"{root} is already split into {', '.join(present)}/; drop "
                f"dataset.options.split (got {list(split)})"
            )
        missing = [s for s in SPLITS if s not in present]
        if missing:
            raise DataError(f"image folder not found: {root / missing[0]}")
        classes = _subfolders(root / "train")
        return classes, {s: _class_files(root / s, classes) for s in SPLITS}
    if not folders:
        raise DataError(
            f"no class folders under {root} (expected train/ val/ test/ folders with "
            "one sub-folder per class, or class folders and dataset.options.split)"
        )
    if split is None:
        raise DataError(
            f"{root} holds class folders ({', '.join(folders[:5])}) but no train/ val/ "
            "test/ split; set dataset.options.split, e.g. [0.7, 0.15, 0.15]"
        )
    return folders, _class_files(root, folders)


def _decode(files: list[tuple[Path, int]], root: Path, size: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``[N, C, size, size]`` images and int64 ``[N]`` labels, from the cache or decoded."""
    import numpy as np
    import torch

    stats = [(p, p.stat(), y) for p, y in files]
    listing = [(str(p.relative_to(root)), st.st_size, st.st_mtime_ns, y) for p, st, y in stats]
    key = hashlib.sha256(json.dumps([listing, size, mode]).encode()).hexdigest()[:20]
    name = f"imagefolder-{key}.npz"
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "al4ml"
    for folder in (root / CACHE_DIR, home):
        if (folder / name).is_file():
            with np.load(folder / name) as cached:
                return cached["images"], cached["labels"]
    images = torch.stack([_read_image(p, mode, size) for p, _ in files]).numpy()
    labels = np.array([y for _, y in files], dtype=np.int64)
    for folder in (root / CACHE_DIR, home):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.{os.getpid()}.tmp.npz"
            np.savez(tmp, images=images, labels=labels)
            tmp.replace(folder / name)  # atomic: a concurrent reader sees all of it or none
            break
        except OSError:
            continue
    return images, labels


def stratified_split(
    labels: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> dict[str, np.ndarray]:
    """Indices of train/val/test: each class shuffled (seeded) and cut at the fractions.

    Every class lands in every split (a class needs 3 images), in proportion up to rounding,
    so small classes stay represented in val and test.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for c in np.unique(labels):
        items = rng.permutation(np.flatnonzero(labels == c))
        n = len(items)
        first = min(max(1, round(n * fractions[0])), n - 2)  # cumulative cuts, one item each at least
        second = min(max(first + 1, round(n * (fractions[0] + fractions[1]))), n - 1)
        for split, part in zip(SPLITS, np.split(items, [first, second]), strict=True):
            out[split].append(part)
    return {s: np.sort(np.concatenate(parts)) for s, parts in out.items()}


@register_dataset("imagefolder")
def imagefolder(
    root: Path | None,
    size: Annotated[int, Field(ge=8, le=1024)] = 28,
    channels: Literal[1, 3] = 3,
    split: tuple[Fraction, Fraction, Fraction] | None = None,
    split_seed: int = 0,
) -> ActiveDataset:
    """Class folders, already split (train/ val/ test/) or split here (``split``), cached."""
    import numpy as np
    import torch

    from al4ml.data.base import ActiveDataset, DatasetInfo, LabeledSplit

    if split is not None and abs(sum(split) - 1) > 1e-6:
        raise DataError(f"dataset.options.split must sum to 1, got {list(split)} (sum {sum(split):g})")
    classes, files = _layout(root, split)
    assert root is not None  # _layout refuses a missing root
    if len(classes) < 2:  # before anything is decoded or cached
        raise DataError(
            f"{root}: the tree holds one class only ({classes[0]}); a classifier "
            "needs class folders for at least two"
        )
    mode = "L" if channels == 1 else "RGB"
    if isinstance(files, dict):
        parts = {s: _decode(files[s], root, size, mode) for s in SPLITS}
        pool_files = tuple(p.relative_to(root).as_posix() for p, _ in files["train"])
    else:
        assert split is not None  # _layout refuses class folders without a split
        images, labels = _decode(files, root, size, mode)
        too_small = [classes[c] for c, n in enumerate(np.bincount(labels, minlength=len(classes))) if n < 3]
        if too_small:
            raise DataError(
                f"class {too_small[0]!r} has fewer than 3 images; a stratified "
                "train/val/test split needs at least one per split"
            )
        index = stratified_split(labels, split, split_seed)
        parts = {s: (images[i], labels[i]) for s, i in index.items()}
        pool_files = tuple(files[i][0].relative_to(root).as_posix() for i in index["train"])
    tensors = {s: (torch.from_numpy(x), torch.from_numpy(y)) for s, (x, y) in parts.items()}
    info = DatasetInfo(root.name, tuple(classes), channels, (size, size), source=str(root))
    return ActiveDataset(
        info,
        *tensors["train"],
        LabeledSplit(*tensors["val"]),
        LabeledSplit(*tensors["test"]),
        pool_files=pool_files,
    )


def write_synthetic_tree(
    root: Path, classes: tuple[str, ...] = LC25000_CLASSES, per_class: int = 4, size: int = 768, seed: int = 0
) -> Path:
    """An LC25000-shaped tree for tests and benchmarks: ``root/<class>/<class>N.jpeg``.

    Each class has its own mean colour and texture frequency plus noise, so a model can
    learn it; the files are RGB JPEGs of ``size`` x ``size`` like the download's.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        tint = np.array([80 + 35 * c, 200 - 30 * c, 120 + 20 * (c % 3)], dtype=np.float64)
        for i in range(per_class):
            wave = np.sin(2 * np.pi * (3 + 2 * c) * (xx + yy) + rng.uniform(0, 2 * np.pi))
            img = tint + 40 * wave[..., None] + rng.normal(0, 20, (size, size, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
                folder / f"{name}{i + 1}.jpeg", quality=90
            )
    return root
