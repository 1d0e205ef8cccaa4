"""What several stages share: the evaluation subset, batched predictions, attack seeds, labels."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bench.runner.context import RunContext
from bench.runner.plan import TrainCell


def eval_subset(ctx: RunContext, cell: TrainCell) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``eval.n`` test examples of the cell's dataset (x, y) on CPU."""
    data = ctx.dataset(cell.dataset)
    return data.x_test[:ctx.eval_n], data.y_test[:ctx.eval_n]


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Arg-max predictions (N,) on CPU, computed in batches in eval mode."""
    model.eval()
    out = [model(x[i:i + batch_size].to(device)).argmax(dim=1).cpu() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def clean_correct(ctx: RunContext, cell: TrainCell, model: nn.Module) -> torch.Tensor:
    """(N,) bool: the model classifies the evaluation example correctly."""
    x, y = eval_subset(ctx, cell)
    return predict(model, x, ctx.work_batch, ctx.device) == y  # module global: tests may wrap predict


def batch_seed(seed: int, offset: int) -> int:
    """The attack seed for the batch starting at example ``offset`` (batch 0 keeps ``seed``)."""
    return seed if offset == 0 else (seed * 1_000_003 + offset) % (2**63 - 1)


def target_labels(y: torch.Tensor, num_classes: int, seed: int) -> torch.Tensor:
    """Targets for targeted threat models: a uniformly drawn class other than the true one."""
    gen = torch.Generator().manual_seed(seed)
    shift = torch.randint(1, num_classes, y.shape, generator=gen)
    return (y + shift) % num_classes


def row_labels(cell: TrainCell) -> dict[str, Any]:
    """The row's labels, component ids and parameters, stored with every cell of the row."""
    if cell.pretrained is not None:
        return {"dataset": cell.dataset.label, "dataset_id": cell.dataset.qid, "model": cell.pretrained.label,
                "model_id": cell.pretrained.arch, "defense": "pretrained", "defense_id": "pretrained",
                "dataset_params": cell.dataset.kwargs, "model_params": dict(cell.pretrained.arch_params),
                "defense_params": {}, "published": [p.model_dump() for p in cell.published]}
    return {"dataset": cell.dataset.label, "dataset_id": cell.dataset.qid, "model": cell.model.label,  # type: ignore[union-attr]
            "model_id": cell.model.qid, "defense": cell.defense.label, "defense_id": cell.defense.qid,  # type: ignore[union-attr]
            "dataset_params": cell.dataset.kwargs, "model_params": cell.model.kwargs,  # type: ignore[union-attr]
            "defense_params": cell.defense.kwargs}  # type: ignore[union-attr]


def jsonable(obj: Any) -> Any:
    """A training log as JSON: containers kept, one-element tensors as numbers, other objects as text."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    return str(obj)
