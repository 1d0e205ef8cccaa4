"""A reusable, seeded training loop so each defense only writes its loss.

``fit_with_loss(model, data, train, ctx, loss_fn)`` runs ``train.epochs`` epochs of
minibatch optimization with the suite's optimizer, schedule and augmentations, shuffling
with the defense's own generator, showing a progress bar when asked (on a terminal only,
:mod:`bench.progress`), and saving/resuming epoch checkpoints through ``ctx``.
``loss_fn(model, x, y, ctx) -> scalar loss``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from bench.api.config import TrainConfig
from bench.api.data import DatasetSplits
from bench.api.defense import TrainContext
from bench.progress import progress_bar

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, TrainContext], torch.Tensor]


def make_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if train.optimizer == "adam":
        return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)
    return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)


def lr_at(train: TrainConfig, progress: float) -> float:
    """Learning rate at ``progress`` in [0, 1) of training.

    cosine: lr/2 (1 + cos(pi progress)); cyclic: triangle 0 -> lr -> 0 peaking at
    ``cyclic_peak_epoch`` (default 2/5 of training); step: lr x gamma at each of ``milestones``
    (epochs; default once, at half of training); constant: lr.
    """
    if train.schedule == "cosine":
        return train.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    if train.schedule == "cyclic":
        peak = 0.4 if train.cyclic_peak_epoch is None else train.cyclic_peak_epoch / train.epochs
        return train.lr * (progress / peak if progress < peak else (1.0 - progress) / (1.0 - peak))
    if train.schedule == "step":
        milestones = train.milestones or [train.epochs / 2]
        epoch = progress * train.epochs + 1e-9  # progress = step / total steps: absorb its rounding
        return train.lr * train.gamma ** sum(1 for m in milestones if epoch >= m)
    return train.lr


def resized_crop(x: torch.Tensor, train: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """torchvision's ``RandomResizedCrop((H, W), scale, ratio)`` applied to every image of ``x`` (N, C, H, W).

    Per image, the crop box is drawn by ``torchvision.transforms.RandomResizedCrop.get_params``
    (area fraction uniform in ``train.resized_crop_scale``, log aspect ratio uniform in
    ``train.resized_crop_ratio``, position uniform; centre-crop fallback after 10 tries) and resized
    back to H x W by ``torchvision.transforms.v2.functional.resized_crop`` (bilinear, antialias).
    get_params draws from torch's global generator, so it runs under ``torch.random.fork_rng``
    seeded from ``generator``: the draws come from the defense's generator and the global state is
    left untouched.
    """
    from torchvision.transforms import RandomResizedCrop
    from torchvision.transforms.v2 import functional as TF

    n, _, h, w = x.shape
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=generator.device).item())
    scale, ratio = list(train.resized_crop_scale), list(train.resized_crop_ratio)
    out = torch.empty_like(x)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for k in range(n):
            top, left, ch, cw = RandomResizedCrop.get_params(x[k], scale, ratio)
            out[k] = TF.resized_crop(x[k], top, left, ch, cw, [h, w], antialias=True).clamp_(0.0, 1.0)
    return out


def augment(x: torch.Tensor, train: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """Random resized crop (``"resized_crop"``, :func:`resized_crop`), random crop with zero padding
    and horizontal flip, in that order, drawn from ``generator``.

    Crop and flip are written with tensor ops (not torchvision.transforms) because the batch is
    already a tensor on the device and the draws must come from the defense's own generator.
    """
    if "resized_crop" in train.augment:
        x = resized_crop(x, train, generator)
    if "crop" in train.augment and train.crop_padding > 0:
        pad = train.crop_padding
        n, _, h, w = x.shape
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
        rows = (dy.view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1)
        cols = (dx.view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w)
        idx_n = torch.arange(n, device=x.device).view(n, 1, 1, 1)
        x = padded[idx_n, torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1), rows, cols]
    if "flip" in train.augment:
        flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    return x


def fit_with_loss(model: nn.Module, data: DatasetSplits, train: TrainConfig, ctx: TrainContext,
                  loss_fn: LossFn, after_epoch: Callable[[nn.Module, int], None] | None = None,
                  on_resume: Callable[[nn.Module, int], None] | None = None) -> nn.Module:
    """Train ``model`` for ``train.epochs`` epochs of ``loss_fn``; returns it (see the module docstring).

    ``after_epoch(model, epoch)`` runs at the end of every epoch, before its checkpoint.
    ``ctx.log`` is saved with every epoch checkpoint and restored on resume, so a defense that
    appends its per-epoch values to ``ctx.log`` (in ``after_epoch``) gets a complete log after
    an interruption; ``ctx.log["train_loss"]`` (mean loss per epoch) always lists every epoch.
    ``on_resume(model, epoch)`` runs once after a checkpoint of ``epoch`` epochs was loaded (with
    ``ctx.log`` restored), for state a defense rebuilds from the log and the model.
    """
    x_all, y_all = data.x_train.to(ctx.device), data.y_train.to(ctx.device)
    n = x_all.shape[0]
    steps_per_epoch = max(1, math.ceil(n / train.batch_size))
    total = train.epochs * steps_per_epoch
    opt = make_optimizer(model, train)
    start = 0
    losses: list[float] = []
    if ctx.load_epoch is not None:
        resumed = ctx.load_epoch()
        if resumed is not None:
            start, state = resumed
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            ctx.generator.set_state(state["generator"])
            ctx.log.update(state.get("log", {}))  # the epochs before the interruption
            losses = list(ctx.log.get("train_loss", []))
            if on_resume is not None:
                on_resume(model, start)
    bar = progress_bar(total, ctx.description, unit="step", enabled=ctx.progress, initial=start * steps_per_epoch)
    for epoch in range(start, train.epochs):
        model.train()
        perm = torch.randperm(n, generator=ctx.generator, device=ctx.generator.device).to(ctx.device)
        epoch_loss = torch.zeros((), device=ctx.device)
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            for group in opt.param_groups:
                group["lr"] = lr_at(train, step / total)
            idx = perm[i * train.batch_size:(i + 1) * train.batch_size]
            xb = augment(x_all[idx], train, ctx.generator) if train.augment else x_all[idx]
            loss = loss_fn(model, xb, y_all[idx], ctx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            epoch_loss += loss.detach()
            bar.update(1)
        losses.append(float(epoch_loss) / steps_per_epoch)
        ctx.log["train_loss"] = losses
        if after_epoch is not None:
            after_epoch(model, epoch)
        if ctx.save_epoch is not None:
            ctx.save_epoch(epoch + 1, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                       "generator": ctx.generator.get_state(), "log": plain(ctx.log)})
    bar.close()
    ctx.log["train_loss"] = losses
    return model


def plain(obj: Any) -> Any:
    """``obj`` as dicts, lists, str, int, float, bool and None: what a weights-only checkpoint can hold.

    (``torch.load(weights_only=True)`` refuses other types, e.g. numpy scalars; one-element
    tensors become numbers, anything else its ``str``.)
    """
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        try:
            return obj.item()
        except (TypeError, ValueError):
            pass
    return str(obj)
