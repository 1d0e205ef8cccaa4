"""The attack stage: adversarial examples from the attack, robust accuracy from the runner's own
forward pass on them (counted on clean-correct examples), per-example arrays in the cache."""
from __future__ import annotations

import time
from typing import Any, Optional

import torch
from torch import nn

from bench.errors import RobarenaError, UsageError
from bench.runner.context import RunContext
from bench.runner.plan import AttackCell, Component
from bench.runner.stages.base import Stage, run_cached
from bench.runner.stages import common
from bench.runner.stages.common import batch_seed, eval_subset, target_labels


def _attack_batch(ctx: RunContext, attack: Any, source: nn.Module, x: torch.Tensor, y: torch.Tensor,
                  threat: Any, target: Optional[torch.Tensor]) -> Any:
    """One batch through the attack, on the compiled model with ``--compile``."""
    if ctx.compile is None:
        return attack(source, x, y, threat, target=target)
    import torch._dynamo.exc

    try:
        return attack(ctx.attack_model(source), x, y, threat, target=target)
    except torch._dynamo.exc.BackendCompilerFailed as exc:
        raise UsageError(f"--compile {ctx.compile} could not compile this model ({exc}); run without "
                         f"--compile, or with --compile aot_eager to check the model traces") from exc


class AttackStage(Stage[AttackCell]):
    name = "attack"


    def parts(self, ctx: RunContext, cell: AttackCell) -> dict[str, Any]:
        from bench.runner.stages.train import TRAIN

        parts = {"train": TRAIN.key(ctx, cell.train), "attack": cell.attack.describe(),
                 "threat": cell.threat.model_dump(mode="json"), "n": ctx.eval_n, "batch": ctx.eval_batch}
        if cell.substitute is not None:
            parts["substitute"] = TRAIN.key(ctx, cell.substitute)
        if ctx.compile is not None:  # compiled kernels may round differently: another cell
            parts["compile"] = ctx.compile
        if cell.reuse_from is not None:  # examples fooled there are not attacked again
            parts["reuse_from"] = self.key(ctx, cell.reuse_from)
        return parts

    def components(self, cell: AttackCell) -> list[Optional[Component]]:
        comps: list[Optional[Component]] = [cell.attack]
        if cell.substitute is not None:
            comps += [cell.substitute.model, cell.substitute.defense]
        return comps

    def fallback_labels(self, cell: AttackCell) -> dict[str, Any]:
        labels = {"column": cell.column, "threat": cell.threat.label, "threat_norm": cell.threat.norm,
                  "threat_eps": cell.threat.eps, "threat_eps_display": cell.threat.eps_display,
                  "threat_targeted": cell.threat.targeted, "attack": cell.attack.label, "attack_id": cell.attack.qid,
                  "needs_gradients": cell.attack.entry.spec.needs_gradients, "attack_params": cell.attack.kwargs}
        if cell.substitute is not None:
            labels["substitute"] = f"{cell.substitute.model.qid} trained by {cell.substitute.defense.qid}"  # type: ignore[union-attr]
        return labels

    def labels(self, ctx: RunContext, cell: AttackCell) -> dict[str, Any]:
        return self.fallback_labels(cell)

    def _smaller_eps_result(self, ctx: RunContext, cell: AttackCell) -> tuple[Optional[torch.Tensor], dict]:
        """With ``eval.reuse_smaller_eps``: the examples the same attack already fooled at the next
        smaller eps (N,) bool, and that cell's arrays; ``(None, {})`` otherwise."""
        if cell.reuse_from is None:
            return None, {}
        prev = run_attack(ctx, cell.reuse_from)
        if prev["status"] != "ok":
            raise RobarenaError(f"the same attack at eps {cell.reuse_from.threat.eps:g} failed, and this cell reuses "
                                f"its results (eval.reuse_smaller_eps): {prev.get('error')}")
        arrays = ctx.cache.get_tensors(prev["payload"]["arrays"])
        return arrays["robust_correct"] == 0, arrays

    def compute(self, ctx: RunContext, cell: AttackCell) -> dict[str, Any]:
        from bench.runner.stages.train import load_model

        model, _ = load_model(ctx, cell.train)
        source = model  # the model the attack sees: the row's own, or a substitute (black-box transfer)
        if cell.substitute is not None:
            source, _ = load_model(ctx, cell.substitute)
        data = ctx.dataset(cell.train.dataset)
        x, y = eval_subset(ctx, cell.train)
        done, prev = self._smaller_eps_result(ctx, cell)  # fooled at a smaller eps: keep that example, attack the rest
        impl = cell.attack.entry.load()
        attack = impl(config=impl.Config(**cell.attack.kwargs), seed=cell.train.seed)
        target = target_labels(y, data.num_classes, cell.train.seed) if cell.threat.targeted else None
        start = time.perf_counter()
        x_adv = prev["x_adv"].clone() if done is not None else x.clone()
        extras: dict[str, torch.Tensor] = {}
        bs = ctx.work_batch  # the suite's batch, or less after an out-of-memory retry
        for i in range(0, x.shape[0], bs):  # the same batches and seeds with or without reuse
            rows = torch.arange(i, min(i + bs, x.shape[0]))
            if done is not None:
                rows = rows[~done[rows]]
                if rows.numel() == 0:
                    continue
            xb, yb = x[rows].to(ctx.device), y[rows].to(ctx.device)
            tb = target[rows].to(ctx.device) if target is not None else None
            attack.seed = batch_seed(cell.train.seed, i)  # distinct random starts per batch
            out = _attack_batch(ctx, attack, source, xb, yb, cell.threat, tb)
            x_adv[rows] = out.x_adv.cpu()
            for name, value in out.extras.items():
                value = value.detach().cpu()
                if name not in extras:  # reused rows keep the smaller eps's value where it has one
                    old = prev.get(f"extra_{name}")
                    extras[name] = old.clone() if old is not None and old.shape[1:] == value.shape[1:] else \
                        torch.full((x.shape[0], *value.shape[1:]), float("nan") if value.is_floating_point() else 0,
                                   dtype=value.dtype)
                extras[name][rows] = value.to(extras[name].dtype)
        seconds = time.perf_counter() - start
        clean_ok = common.clean_correct(ctx, cell.train, model)
        adv_pred = common.predict(model, x_adv, bs, ctx.device)
        robust = clean_ok & (adv_pred == y)
        if done is not None:
            robust &= ~done  # fooled at a smaller eps is fooled here (its example lies in this ball too)
        arrays = {"x_adv": x_adv, "robust_correct": robust.to(torch.uint8), "adv_pred": adv_pred}
        if target is not None:
            arrays["target"] = target
        arrays.update({f"extra_{k}": v for k, v in extras.items()})
        n = max(1, int(y.shape[0]))
        payload = {"arrays": ctx.cache.put_tensors(arrays), "robust_accuracy": int(robust.sum()) / n,
                   "clean_accuracy": int(clean_ok.sum()) / n, "seconds": round(seconds, 3)}
        if done is not None:
            payload["reused_smaller_eps"] = int(done.sum())
        if target is not None:
            payload["target_success"] = int((adv_pred == target).sum()) / n
        return payload


ATTACK = AttackStage()


def run_attack(ctx: RunContext, cell: AttackCell) -> dict:
    """The attack cell's record (cached or computed)."""
    return run_cached(ctx, ATTACK, cell)
