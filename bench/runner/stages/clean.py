"""The clean stage: clean accuracy of a trained model on the evaluation subset (runner's own forward pass)."""
from __future__ import annotations

from typing import Any

import torch

from bench.runner.context import RunContext
from bench.runner.plan import CleanCell
from bench.runner.stages.base import Stage
from bench.runner.stages import common


class CleanStage(Stage[CleanCell]):
    name = "clean"


    def parts(self, ctx: RunContext, cell: CleanCell) -> dict[str, Any]:
        from bench.runner.stages.train import TRAIN

        parts: dict[str, Any] = {"train": TRAIN.key(ctx, cell.train), "n": ctx.eval_n, "batch": ctx.eval_batch}
        if ctx.amp_dtype is not None:
            parts["amp"] = str(ctx.amp_dtype)
        return parts

    def compute(self, ctx: RunContext, cell: CleanCell) -> dict[str, Any]:
        from bench.runner.stages.train import load_model

        model, _ = load_model(ctx, cell.train)
        with ctx.autocast():  # clean inference only; attacks and robust scoring always run in full precision
            correct = common.clean_correct(ctx, cell.train, model)
        n = max(1, int(correct.shape[0]))
        return {"clean_accuracy": int(correct.sum()) / n,
                "arrays": ctx.cache.put_tensors({"clean_correct": correct.to(torch.uint8)})}
