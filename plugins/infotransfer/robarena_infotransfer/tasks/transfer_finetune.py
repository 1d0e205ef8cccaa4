"""Fine-tuning a source model on a target (P2 Tables 1-3 "fine-tune"), beside the frozen linear head.

P2 transfers by fine-tuning (its appendix with the protocol is not in our copy). Three heads:

* ``"linear"``: the frozen extractor and the logistic-regression head of
  :func:`robarena_infotransfer.tasks.transfer_head.fit_linear_head` (a linear probe);
* ``"finetune-last"``: that head as the start, then the head *and the source's last block* trained
  with SGD on the target's training split; the last block is the last direct child module of the
  model (in registration order, leaving out ``head``, the source's own classifier, and ``normalize``)
  that owns a weight of two or more dimensions (a convolution or linear layer), together with every
  later child that has parameters (a final batch norm, as in pre-activation ResNets);
* ``"finetune-all"``: the head and every parameter of the extractor trained.

Frozen parts stay in eval mode (their batch-norm statistics do not move); trained parts are in train
mode. Cross-entropy, SGD with momentum, ``epochs`` passes over the training split in shuffled
batches (the order drawn from the task's generator). The source model is never changed: the
transferred model holds a deep copy. Budget defaults (1 epoch, lr 0.01, momentum 0.9, batch 128) are
our choice (P2 gives none in our copy).
"""
from __future__ import annotations

import copy
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import UsageError

HeadMode = Literal["linear", "finetune-last", "finetune-all"]
_NOT_EXTRACTOR = ("head", "normalize")


def last_block(model: nn.Module) -> list[str]:
    """Names of the direct children that ``finetune-last`` trains (see the module docstring)."""
    children = [(name, m) for name, m in model.named_children()
                if name not in _NOT_EXTRACTOR and any(True for _ in m.parameters())]
    idx = [i for i, (_, m) in enumerate(children) if any(p.dim() >= 2 for p in m.parameters())]
    if not idx:
        raise UsageError(f"{type(model).__name__} has no child module with a convolution or linear weight besides "
                         "its head; use head = 'linear' or 'finetune-all'")
    return [name for name, _ in children[idx[-1]:]]


def trainable_names(model: nn.Module, mode: HeadMode) -> list[str]:
    """Parameter names of ``model`` (the source, without the new head) trained under ``mode``."""
    if mode == "linear":
        return []
    names = [n for n, _ in model.named_parameters() if not n.startswith("head.")]
    if mode == "finetune-all":
        return names
    if mode == "finetune-last":
        blocks = last_block(model)
        return [n for n in names if n.split(".", 1)[0] in blocks]
    raise UsageError(f"head {mode!r} is not 'linear', 'finetune-last' or 'finetune-all'")


def finetune(transferred: nn.Module, mode: HeadMode, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 1,
             lr: float = 0.01, momentum: float = 0.9, batch_size: int = 128, device: torch.device = torch.device("cpu"),
             generator: torch.Generator) -> nn.Module:
    """Train ``transferred`` (a ``TransferredModel``: ``.source`` a deep copy, ``.head`` the linear head) in
    place on ``x`` (N, C, H, W), ``y`` (N,) under ``mode``; returns it in eval mode."""
    if mode == "linear":
        return transferred.eval()
    source, head = transferred.source, transferred.head
    train_names = set(trainable_names(source, mode))
    for name, p in source.named_parameters():
        p.requires_grad_(name in train_names)
    params = [p for p in source.parameters() if p.requires_grad] + list(head.parameters())
    for p in head.parameters():
        p.requires_grad_(True)
    blocks = set(last_block(source)) if mode == "finetune-last" else None
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    n = x.shape[0]
    for _ in range(epochs):
        transferred.eval()
        if blocks is None:
            source.train()
        else:
            for name, child in source.named_children():
                if name in blocks:
                    child.train()
        head.train()
        order = torch.randperm(n, generator=generator, device=generator.device).cpu()
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(transferred(xb), yb).backward()
            opt.step()
    for p in transferred.parameters():
        p.requires_grad_(False)
    return transferred.eval()


def copy_source(model: nn.Module) -> nn.Module:
    """A deep copy of the source model for fine-tuning (the runner's model is never changed)."""
    return copy.deepcopy(model)
