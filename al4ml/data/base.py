"""Containers shared by all dataset loaders."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from al4ml.errors import DataError
from al4ml.task import Task


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: class names, image geometry and task type (MedMNIST vocabulary)."""

    name: str
    classes: tuple[str, ...]
    channels: int
    size: tuple[int, int]
    task: str = "multi-class"
    source: str = ""
    """Where the images came from (a file, a folder, a loader), as logged with every run."""

    @property
    def num_classes(self) -> int:
        """Number of classes (of findings, for a multi-label set): the network's outputs."""
        return len(self.classes)

    @property
    def label_task(self) -> Task:
        """How labels look and are learned: one class per image, or a 0/1 vector of findings."""
        return Task.of(self.task)


@dataclass(frozen=True)
class LabeledSplit:
    """An evaluation split: ``images`` uint8 ``[N, C, H, W]``, ``labels`` int64 ``[N]`` (class
    ids) or ``[N, L]`` (0/1 findings of a multi-label set)."""

    images: torch.Tensor
    labels: torch.Tensor


class ActiveDataset:
    """A pool of unlabeled images plus labeled ``val`` and ``test`` splits.

    The pool labels are held only until :meth:`hand_over_labels` gives them to the oracles;
    after that the dataset has none, so no other code path can read them.

    Args:
        info: Dataset metadata.
        pool_images: uint8 ``[N, C, H, W]``.
        pool_labels: int64 ``[N]``, or ``[N, L]`` for a multi-label set (given to the oracle).
        val: Validation split.
        test: Test split.
        pool_files: Where each pool image came from, relative to the dataset's root (image
            folders: what an expert is sent for a queried item); ``None`` where there are no files.
    """

    def __init__(
        self,
        info: DatasetInfo,
        pool_images: torch.Tensor,
        pool_labels: torch.Tensor,
        val: LabeledSplit,
        test: LabeledSplit,
        pool_files: tuple[str, ...] | None = None,
    ) -> None:
        for split, images in (("pool", pool_images), ("val", val.images), ("test", test.images)):
            if images.dtype != torch.uint8 or images.ndim != 4:
                raise ValueError(
                    f"{split} images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}"
                )
        if len(pool_images) != len(pool_labels):
            raise ValueError("pool images and labels differ in length")
        shape = info.label_task.label_shape(info.num_classes)
        top = 2 if info.label_task.multi_label else info.num_classes
        for split, labels in (("pool", pool_labels), ("val", val.labels), ("test", test.labels)):
            if tuple(labels.shape[1:]) != shape:
                raise DataError(
                    f"dataset {info.name}: {split} labels have shape "
                    f"{tuple(labels.shape)}; a {info.label_task.kind} set with "
                    f"{info.num_classes} classes needs "
                    f"[{', '.join(['N', *map(str, shape)])}]"
                )
            bad = labels[(labels < 0) | (labels >= top)]
            if len(bad):
                raise DataError(
                    f"dataset {info.name}: {split} label {int(bad[0])} is outside "
                    f"[0, {top}) for its {info.num_classes} "
                    f"{'findings' if info.label_task.multi_label else 'classes'} "
                    f"({len(bad)} such labels)"
                )
            present = labels.unique() if not info.label_task.multi_label else None
            if present is not None and len(present) < 2:  # accuracy 1.0 and AUC NaN, silently
                raise DataError(
                    f"dataset {info.name}: the {split} split holds one class only "
                    f"({info.classes[int(present[0])] if len(present) else 'none'}); "
                    f"a classifier needs images of at least two classes in every split"
                )
        if pool_files is not None and len(pool_files) != len(pool_images):
            raise ValueError("pool images and files differ in length")
        self.info = info
        self.pool_images = pool_images
        self.pool_files = pool_files
        self.val = val
        self.test = test
        self._pool_labels: torch.Tensor | None = pool_labels.to(torch.int64)

    @property
    def pool_size(self) -> int:
        """Number of pool items."""
        return len(self.pool_images)

    def summary(self) -> str:
        """One line on what a run learns from: ``digits: 10 classes (0, 1, 2, 3, 4, 5, …),
        pool 1257, val 180, test 360 images of 1x28x28``."""
        classes = self.info.classes
        names = ", ".join(classes[:6]) + (", …" if len(classes) > 6 else "")
        kind = "findings" if self.info.label_task.multi_label else "classes"
        h, w = self.info.size
        return (
            f"{self.info.name}: {len(classes)} {kind} ({names}), pool {self.pool_size}, "
            f"val {len(self.val.images)}, test {len(self.test.images)} images of "
            f"{self.info.channels}x{h}x{w}"
        )

    def hand_over_labels(self) -> torch.Tensor:
        """The pool labels ``[N]`` (``[N, L]``), handed over once: to the oracles, which the
        loop builds from their config section (:func:`al4ml.oracle.oracle_of`).

        Raises:
            RuntimeError: They were handed over already.
        """
        if self._pool_labels is None:
            raise RuntimeError("the pool labels were already handed to an oracle")
        labels, self._pool_labels = self._pool_labels, None
        return labels
