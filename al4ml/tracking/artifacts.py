"""What a run logs besides metrics: its dataset as MLflow inputs, its model in MLflow's format,
its learning curve as a figure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import al4ml
from al4ml.records import LoopState

if TYPE_CHECKING:  # torch and matplotlib load where a run needs them: a report or the UI never
    from matplotlib.figure import Figure

    from al4ml.data import ActiveDataset
    from al4ml.models.classifier import Classifier


def dataset_inputs(dataset: ActiveDataset) -> list[dict[str, Any]]:
    """The pool, val and test images as MLflow dataset inputs (name, digest, source, shapes).

    Only images are described, never the pool's labels; the UI's dataset filter works with them.
    """
    import warnings

    from mlflow.data.numpy_dataset import from_numpy

    out = []
    for context, images in (
        ("pool", dataset.pool_images),
        ("val", dataset.val.images),
        ("test", dataset.test.images),
    ):
        with warnings.catch_warnings():  # a local path matches two equivalent source types
            warnings.simplefilter("ignore", UserWarning)
            # MLflow's own default for no source is None (its annotation omits it).
            source = dataset.info.source or None
            entity = from_numpy(
                images.numpy(),
                source=source,  # type: ignore[arg-type]
                name=f"{dataset.info.name}-{context}",
            )._to_mlflow_entity()
        out.append(
            {
                "name": entity.name,
                "digest": entity.digest,
                "source_type": entity.source_type,
                "source": entity.source,
                "schema": entity.schema,
                "profile": entity.profile,
                "context": context,
            }
        )
    return out


def save_mlflow_model(model: Classifier, input_shape: tuple[int, ...], folder: Path) -> None:
    """The final model as an MLflow PyTorch model (``mlflow.pytorch.load_model`` reads it).

    It takes normalised float images ``[B, C, H, W]`` (``al4ml.device.to_input``) and returns
    logits; pickled (the graph format would fix the batch size), with an input example and
    the signature MLflow infers from it.
    """
    import copy
    import logging

    import mlflow.pytorch
    import torch

    cpu = copy.deepcopy(model).to("cpu").to(memory_format=torch.contiguous_format).eval()
    example = torch.zeros(input_shape).numpy()
    quiet = logging.getLogger("mlflow.pytorch")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its warning about pickles is about loading others' models
    try:
        mlflow.pytorch.save_model(
            cpu,
            str(folder),
            input_example=example,
            serialization_format="pickle",
            pip_requirements=[f"torch>={torch.__version__.split('+')[0]}", f"al4ml>={al4ml.__version__}"],
        )
    finally:
        quiet.setLevel(level)


def learning_curve_figure(state: LoopState) -> Figure:
    """Test/val accuracy and test AUC against labels, for one run (no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    x = [r.n_labeled for r in state.history]
    for name in ("test_accuracy", "val_accuracy", "test_auc"):
        ax.plot(x, [r.metrics.get(name, float("nan")) for r in state.history], marker="o", ms=3, label=name)
    ax.set_xlabel("labeled images")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
