"""How many grid cells train together on one CUDA device: a probe that trains a cohort."""

from __future__ import annotations

from al4ml.config import ExperimentConfig


def cells_per_device(cfg: ExperimentConfig) -> int | None:
    """How many cells of ``cfg``'s setup train together on one CUDA device; ``None`` off CUDA,
    1 for a model that does not stack (:func:`al4ml.models.stack.stack_refusal`).

    Measured, not guessed: one eager training step and one scoring pass of a cohort of one
    and of two (random images of the dataset's shape, the config's model, batch and eval
    batch), so the peak memory of one more cell is known; the device's free memory, less a
    fifth for fragmentation and the pool, divided by that is the answer.
    """
    import torch

    from al4ml.augment import create_augmentation
    from al4ml.augment.policy import CohortAugment
    from al4ml.device import Execution, resolve_device
    from al4ml.experiment import load_dataset
    from al4ml.infer import predict
    from al4ml.models import create_model
    from al4ml.models.stack import StackedClassifier, stack_refusal
    from al4ml.train import fit

    device = resolve_device(cfg.device)
    if device.type != "cuda":
        return None
    info = load_dataset(cfg).info
    if (
        stack_refusal(create_model(cfg.model.name, info.channels, info.num_classes, **cfg.model.options))
        is not None
    ):
        return 1  # its cohort's models would run one after another: nothing to share
    b = max(2, min(cfg.training.batch_size, cfg.budget.total))
    x = torch.randint(0, 256, (b, info.channels, *info.size), dtype=torch.uint8, device=device)
    task = info.label_task
    y = torch.randint(
        0,
        2 if task.multi_label else info.num_classes,
        (b, *task.label_shape(info.num_classes)),
        device=device,
    )
    once = cfg.training.model_copy(
        update={"epochs": 1, "min_steps": 0, "cuda_graph": False, "compile": False}
    )
    execution = Execution.of(device, once)
    free_before = torch.cuda.mem_get_info(device)[0]
    peaks = []
    for k in (1, 2):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        stack = StackedClassifier(
            [
                execution.place(
                    create_model(cfg.model.name, info.channels, info.num_classes, **cfg.model.options)
                )
                for _ in range(k)
            ]
        )
        augment = CohortAugment(
            [create_augmentation("none")] * k,
            [torch.Generator(device=device).manual_seed(i) for i in range(k)],
        )
        fit(
            stack,
            x,
            torch.arange(b, device=device).expand(k, b),
            y.expand(k, *y.shape),
            once,
            augment,
            execution,
            task=task,
        )
        predict(
            stack,
            x.repeat(-(-cfg.training.eval_batch_size // b), 1, 1, 1),
            execution,
            cfg.training.eval_batch_size,
            embeddings=True,
            task=task,
        )
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
        del stack, augment
    torch.cuda.empty_cache()
    per_cell = max(peaks[1] - peaks[0], 1)
    return max(1, int(0.8 * free_before / per_cell))
