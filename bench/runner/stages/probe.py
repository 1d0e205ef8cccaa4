"""The probe stage: a probe's scalars (and optional arrays) on the trained model, given the
adversarial examples of the row's attacks when the probe reads them. The payload also holds the
probe's flags and its certified accuracies (``certified``: :class:`bench.api.probe.CertifiedAccuracy`
as dicts), which :mod:`bench.runner.results` sets beside the row's empirical robust accuracies.
A cell with an ``epoch`` (probes over training) runs on the weights after that many epochs
(:func:`bench.runner.stages.train.load_epoch_model`); its key adds the epoch to the training key."""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Optional

from bench.api.probe import AttackRecord, ProbeInput
from bench.errors import RobarenaError
from bench.runner.context import RunContext
from bench.runner.plan import Component, ProbeCell
from bench.runner.stages.base import Stage
from bench.runner.stages.common import eval_subset


class ProbeStage(Stage[ProbeCell]):
    name = "probe"


    def parts(self, ctx: RunContext, cell: ProbeCell) -> dict[str, Any]:
        from bench.runner.stages.attack import ATTACK
        from bench.runner.stages.train import TRAIN

        parts = {"train": TRAIN.key(ctx, cell.train), "probe": cell.probe.describe(), "n": ctx.eval_n,
                 "attacks": [ATTACK.key(ctx, a) for a in cell.attacks]}
        if cell.epoch is not None:  # only then: the final model's probe cells keep their keys
            parts["epoch"] = cell.epoch
        return parts

    def components(self, cell: ProbeCell) -> list[Optional[Component]]:
        return [cell.probe] + [a.attack for a in cell.attacks]

    def fallback_labels(self, cell: ProbeCell) -> dict[str, Any]:
        out = {"probe": cell.probe.label, "probe_id": cell.probe.qid, "probe_params": cell.probe.kwargs}
        if cell.epoch is not None:
            out["epoch"] = cell.epoch
        return out

    def labels(self, ctx: RunContext, cell: ProbeCell) -> dict[str, Any]:
        return self.fallback_labels(cell)

    def compute(self, ctx: RunContext, cell: ProbeCell) -> dict[str, Any]:
        import numpy as np

        from bench.runner.stages.attack import run_attack
        from bench.runner.stages.train import load_epoch_model, load_model

        model = load_model(ctx, cell.train)[0] if cell.epoch is None else load_epoch_model(ctx, cell.train, cell.epoch)
        data = ctx.dataset(cell.train.dataset)
        x, y = eval_subset(ctx, cell.train)
        spec = cell.probe.entry.spec
        attacks = {}
        for a in cell.attacks:
            arec = run_attack(ctx, a)
            if arec["status"] != "ok":
                raise RobarenaError(f"attack cell {a.column!r} this probe needs failed: {arec['error']}")
            attacks[a.column] = AttackRecord(ctx.cache.get_tensors(arec["payload"]["arrays"])["x_adv"].to(ctx.device),
                                             a.threat, transfer=a.substitute is not None)
        pin = ProbeInput(x=x.to(ctx.device), y=y.to(ctx.device), num_classes=data.num_classes, device=ctx.device,
                         attacks=attacks, batch_size=ctx.work_batch)
        if spec.needs_train:
            pin.x_train, pin.y_train = data.x_train.to(ctx.device), data.y_train.to(ctx.device)
        impl = cell.probe.entry.load()
        start = time.perf_counter()
        result = impl(config=impl.Config(**cell.probe.kwargs), seed=cell.train.seed)(model, pin)
        missing = sorted(set(spec.columns) - set(result.scalars))
        if missing:
            raise RobarenaError(f"probe {cell.probe.qid} did not return its declared columns {missing}")
        return {"scalars": result.scalars, "flags": result.flags, "seconds": round(time.perf_counter() - start, 3),
                "certified": [dataclasses.asdict(c) for c in result.certified],
                "arrays": ctx.cache.put_arrays({k: np.asarray(v) for k, v in result.arrays.items()})
                if result.arrays else None}


PROBE = ProbeStage()
