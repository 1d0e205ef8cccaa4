"""The training stage: train a (dataset, model, defense, seed) cell, or load a brought checkpoint.

The checkpoint's sha256 is resolved once, when the plan is built (``TrainCell.checkpoint_sha256``),
so keys never re-read the file. :func:`load_model` gives the trained model in eval mode on the
device, from this run's memory, the cache, or by training.

Probes over training: a cell with ``keep_epochs`` (part of its key only then) also stores the
weights after each of those epochs (``payload["epoch_checkpoints"]``, epoch -> digest, taken from
the per-epoch checkpoints of :mod:`bench.runner.stages.partials`); :func:`load_epoch_model`
rebuilds the model of one of them.
"""
from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from bench.api.data import DatasetSplits
from bench.api.defense import TrainContext
from bench.errors import RobarenaError
from bench.runner.context import RunContext
from bench.runner.models import build_arch, build_registered, load_into, load_state
from bench.runner.plan import TrainCell
from bench.runner.stages.base import Stage, run_cached
from bench.runner.stages.common import jsonable
from bench.runner.stages import partials


def arch_version(ctx: RunContext, arch: str) -> str:
    """What the architecture's code version is: timm's version, the spec's, or the user's module."""
    if arch.startswith("timm/"):
        import timm

        return f"timm-{timm.__version__}"
    if ":" in arch:  # the user's own module: its file's fingerprint
        from bench.runner.fingerprint import code_fingerprint

        return f"user-{code_fingerprint(arch)}"
    entry = ctx.registry.get("model", arch)
    return f"{entry.plugin.distribution}-{entry.plugin.version}/v{entry.version}"


def _defense(cell: TrainCell) -> Any:
    impl = cell.defense.entry.load()  # type: ignore[union-attr]
    return impl(config=impl.Config(**cell.defense.kwargs), train=cell.train)  # type: ignore[union-attr]


def _architecture(ctx: RunContext, cell: TrainCell, data: DatasetSplits) -> nn.Module:
    if cell.pretrained is not None:
        pre = cell.pretrained
        return build_arch(pre.arch, ctx.registry, data.shape, data.num_classes, pre.arch_params, pre.mean, pre.std)
    return build_registered(cell.model.entry, cell.model.kwargs, data.shape, data.num_classes)  # type: ignore[union-attr]


class TrainStage(Stage[TrainCell]):
    name = "train"

    def train_cell(self, cell: TrainCell) -> TrainCell:
        return cell

    def cell_id(self, cell: TrainCell) -> str:
        return cell.row_id

    def parts(self, ctx: RunContext, cell: TrainCell) -> dict[str, Any]:
        data = ctx.dataset(cell.dataset)
        parts: dict[str, Any] = {"dataset": cell.dataset.describe(), "fingerprint": data.fingerprint, "seed": cell.seed}
        if cell.pretrained is not None:
            pre = cell.pretrained
            parts["pretrained"] = {"arch": pre.arch, "arch_params": pre.arch_params, "mean": pre.mean, "std": pre.std,
                                   "checkpoint_sha256": cell.checkpoint_sha256, "arch_version": arch_version(ctx, pre.arch)}
        else:
            parts.update(model=cell.model.describe(), defense=cell.defense.describe(),  # type: ignore[union-attr]
                         train=cell.train.key_dict())  # type: ignore[union-attr]
            if ctx.amp_dtype is not None:  # mixed-precision training gives other weights: another cell
                parts["amp"] = str(ctx.amp_dtype)
            if cell.keep_epochs:  # only then: suites without probes over training keep their keys
                parts["keep_epochs"] = list(cell.keep_epochs)
        return parts

    def compute(self, ctx: RunContext, cell: TrainCell) -> dict[str, Any]:
        data = ctx.dataset(cell.dataset)
        start = time.perf_counter()
        log: dict[str, Any] = {}
        kept: dict[int, str] = {}
        if cell.pretrained is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cell.seed)
                model = _architecture(ctx, cell, data)
            load_into(model, load_state(cell.pretrained.checkpoint), cell.pretrained.checkpoint)
            model = ctx.prepare_model(model.to(ctx.device)).eval()
        else:
            partial = ctx.workdir / "partial" / f"{self.key(ctx, cell)}.pt"
            gen = torch.Generator(device=ctx.device).manual_seed(cell.seed)
            save, load = partials.epoch_saver(partial), partials.epoch_loader(partial)
            if cell.keep_epochs:
                save, load = partials.keeping(save, load, cell.keep_epochs, ctx.cache.put_tensors, kept)
            tctx = TrainContext(device=ctx.device, seed=cell.seed, generator=gen, progress=ctx.progress,
                                description=f"train {cell.row_id}", save_epoch=save, load_epoch=load, log=log)
            with ctx.autocast():  # bf16 forward passes with --amp on CUDA, else a no-op
                model = _defense(cell)(lambda: ctx.prepare_model(_architecture(ctx, cell, data)), data, tctx)
            partial.unlink(missing_ok=True)
            partials.remove_stale_partials(partial)
            missing = [e for e in cell.keep_epochs if e not in kept]
            if missing:
                raise RobarenaError(f"probes over training need the weights of epoch(s) {missing}, but defense "
                                    f"{cell.defense.qid!r} saved no epoch checkpoint for them (ctx.save_epoch, "  # type: ignore[union-attr]
                                    "which bench.api.training.fit_with_loss calls after every epoch)")
        ctx.models[self.key(ctx, cell)] = model
        payload = {"checkpoint": ctx.cache.put_tensors(model.state_dict()),
                   "seconds": round(time.perf_counter() - start, 3), "log": jsonable(log)}
        if cell.keep_epochs:
            payload["epoch_checkpoints"] = {str(e): kept[e] for e in cell.keep_epochs}
        return payload

    def restore(self, ctx: RunContext, cell: TrainCell, rec: dict, digest: str | None = None) -> nn.Module:
        """The trained model of a stored record (or the weights ``digest`` of its training), in eval mode
        on the device."""
        model = _architecture(ctx, cell, ctx.dataset(cell.dataset))
        if cell.defense is not None:
            model = _defense(cell).wrap(model)
        model.load_state_dict(ctx.cache.get_tensors(digest or rec["payload"]["checkpoint"]))
        return ctx.prepare_model(model.to(ctx.device)).eval()


TRAIN = TrainStage()


def load_model(ctx: RunContext, cell: TrainCell) -> tuple[nn.Module, dict]:
    """Train (or load) the cell's model; returns (eval-mode model on the device, record)."""
    key = TRAIN.key(ctx, cell)
    if key in ctx.models:
        return ctx.models[key], ctx.store.get_cell(key)  # type: ignore[return-value]
    rec = run_cached(ctx, TRAIN, cell)
    if key not in ctx.models:  # a cache hit: nothing was trained
        ctx.models[key] = TRAIN.restore(ctx, cell, rec)
    return ctx.models[key], rec


def load_epoch_model(ctx: RunContext, cell: TrainCell, epoch: int) -> nn.Module:
    """The cell's model as it was after ``epoch`` epochs of training (eval mode, on the device)."""
    _, rec = load_model(ctx, cell)
    digest = (rec["payload"].get("epoch_checkpoints") or {}).get(str(epoch))
    if digest is None:
        raise RobarenaError(f"the training record of {cell.row_id!r} holds no weights of epoch {epoch} (it kept "
                            f"{sorted(int(e) for e in rec['payload'].get('epoch_checkpoints') or {})})")
    return TRAIN.restore(ctx, cell, rec, digest)
