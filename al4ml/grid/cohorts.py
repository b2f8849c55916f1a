"""Which cells train together: cohorts by shared config, sized by the GPU's memory (a probe
that trains) or spread over the workers on CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from al4ml.config import ExperimentConfig

if TYPE_CHECKING:  # MLflow takes seconds to import: not needed to validate a grid file
    pass


from al4ml.grid.versions import CellStatus


def cells_per_device(cfg: ExperimentConfig) -> int | None:
    """How many cells of ``cfg``'s setup train together on one CUDA device; ``None`` off CUDA.

    Measured, not guessed: one eager training step and one scoring pass of a cohort of one
    and of two (random images of the dataset's shape, the config's model, batch and eval
    batch), so the peak memory of one more cell is known; the device's free memory, less a
    fifth for fragmentation and the pool, divided by that is the answer.
    """
    import torch

    from al4ml.augment import create_augmentation
    from al4ml.augment.policy import CohortAugment
    from al4ml.device import resolve_device
    from al4ml.experiment import load_dataset
    from al4ml.infer import predict
    from al4ml.models import create_model
    from al4ml.models.stack import StackedClassifier
    from al4ml.train import fit

    device = resolve_device(cfg.device)
    if device.type != "cuda":
        return None
    info = load_dataset(cfg).info
    b = max(2, min(cfg.training.batch_size, cfg.budget.total))
    x = torch.randint(0, 256, (b, info.channels, *info.size), dtype=torch.uint8, device=device)
    task = info.label_task
    y = torch.randint(0, 2 if task.multi_label else info.num_classes,
                      (b, *task.label_shape(info.num_classes)), device=device)
    once = cfg.training.model_copy(update={"epochs": 1, "min_steps": 0, "cuda_graph": False,
                                           "compile": False})
    free_before = torch.cuda.mem_get_info(device)[0]
    peaks = []
    for k in (1, 2):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        stack = StackedClassifier([create_model(cfg.model.name, info.channels, info.num_classes,
                                                **cfg.model.options).to(device) for _ in range(k)])
        augment = CohortAugment([create_augmentation("none")] * k,
                                [torch.Generator(device=device).manual_seed(i) for i in range(k)])
        fit(stack, x, torch.arange(b, device=device).expand(k, b), y.expand(k, *y.shape), once,
            augment, device, task=task)
        predict(stack, x.repeat(-(-cfg.training.eval_batch_size // b), 1, 1, 1), device,
                cfg.training.eval_batch_size, embeddings=True, bf16=cfg.training.bf16, task=task)
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
        del stack, augment
    torch.cuda.empty_cache()
    per_cell = max(peaks[1] - peaks[0], 1)
    return max(1, int(0.8 * free_before / per_cell))


def plan_cohorts(todo: list[CellStatus], size: int | None, workers: int) -> list[list[CellStatus]]:
    """Group the cells to run into cohorts of cells that can train together.

    Cells share a cohort when they share dataset, model, training and budget
    (``ExperimentConfig.cohort_key``); at most ``size`` per cohort, or with ``size=None``, as
    many as fit one CUDA device (measured, shared by ``workers`` processes) or, on CPU, as
    evenly as keeps every worker busy. Compatible cells are split into cohorts of equal size.
    """
    groups: dict[str, list[CellStatus]] = {}
    for st in todo:
        groups.setdefault(st.cell.config.cohort_key(), []).append(st)
    out = []
    for members in groups.values():
        cap = size
        if cap is None:
            fits = cells_per_device(members[0].cell.config)
            cap = max(1, fits // workers) if fits else -(-len(members) // workers)
        n = -(-len(members) // max(1, cap))
        out += [list(part) for part in _split(members, n)]
    return out


def _split(items: list[Any], n: int) -> list[list[Any]]:
    """``items`` in ``n`` consecutive parts whose sizes differ by at most one."""
    q, r = divmod(len(items), n)
    bounds = [i * q + min(i, r) for i in range(n + 1)]
    return [items[bounds[i]:bounds[i + 1]] for i in range(n)]


