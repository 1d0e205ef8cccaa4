"""Interval bound propagation (Gowal et al. 2018) for Linf balls on small sequential models.

An input box ``[max(x - eps, 0), min(x + eps, 1)]`` is pushed through the layers as a centre ``c`` and
a radius ``r`` (affine layers: ``c' = W c + b``, ``r' = |W| r``, exact for one affine layer) or as
lower/upper ends (monotone layers: ReLU, max and average pooling, flatten). Every bound is computed
in float64. Supported layers: ``Linear``, ``Conv2d``, ``ReLU``, ``Flatten``, ``Identity``, ``Dropout``
(eval: identity), ``BatchNorm1d/2d`` in eval mode (running statistics, an affine map),
bench's ``Normalize`` (an affine map), ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``.

A model is read as a list of such layers: an ``nn.Sequential`` (nested ones are expanded), or a
bench ``Classifier`` made of ``normalize``, a sequential ``body`` and ``head``; the list is checked to
reproduce the model's logits on the input, so a model whose forward does something else is refused
rather than certified wrongly. Anything else raises :class:`UnsupportedLayerError` naming the layer.

Certification uses the elision of the last layer (Gowal et al. Sec. 3): with a final ``Linear`` ``W, b``
the margins ``z_y - z_j = (W_y - W_j) h + b_y - b_j`` are themselves a linear layer of the last hidden
bounds ``h``, bounded directly; ``x`` is certified when every margin's lower bound is > 0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.api.model import Normalize
from bench.errors import UsageError

_IDENTITY = (nn.Identity, nn.Dropout)
_MONOTONE = (nn.ReLU, nn.Flatten, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
_SUPPORTED = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, Normalize) + _IDENTITY + _MONOTONE


class UnsupportedLayerError(UsageError):
    """The model holds a layer (or a structure) that interval bound propagation here cannot handle."""


def _expand(module: nn.Module, name: str) -> list[tuple[str, nn.Module]]:
    if isinstance(module, nn.Sequential):
        out = []
        for child_name, child in module.named_children():
            out += _expand(child, f"{name}.{child_name}" if name else child_name)
        return out
    if not isinstance(module, _SUPPORTED):
        raise UnsupportedLayerError(
            f"IBP cannot handle layer {name or '<model>'} ({type(module).__name__}); supported: "
            + ", ".join(sorted({t.__name__ for t in _SUPPORTED})) + " in an nn.Sequential")
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.running_mean is None:
        raise UnsupportedLayerError(f"IBP needs running statistics in batch norm layer {name}")
    return [(name, module)]


def ibp_layers(model: nn.Module, example: torch.Tensor | None = None) -> list[nn.Module]:
    """``model`` as a list of supported layers (see the module docstring); checked on ``example`` when given."""
    if isinstance(model, nn.Sequential):
        layers = [m for _, m in _expand(model, "")]
    elif all(hasattr(model, a) for a in ("normalize", "body", "head")) and isinstance(model.body, nn.Sequential):
        layers = [m for _, m in _expand(model.normalize, "normalize") + _expand(model.body, "body")
                  + _expand(model.head, "head")]
    else:
        raise UnsupportedLayerError(
            f"IBP needs an nn.Sequential or a Classifier with normalize, a sequential body and head; "
            f"got {type(model).__name__}")
    if example is not None:
        with torch.no_grad():
            out = example
            for layer in layers:
                out = layer(out)
            if not torch.allclose(out, model(example), rtol=1e-4, atol=1e-5):
                raise UnsupportedLayerError(
                    f"the layers of {type(model).__name__} do not reproduce its forward pass; IBP refuses it")
    return layers


def _affine_bn(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) per channel of an eval-mode batch norm."""
    scale = 1.0 / torch.sqrt(layer.running_var.double() + layer.eps)
    shift = -layer.running_mean.double() * scale
    if layer.affine:
        scale, shift = scale * layer.weight.double(), shift * layer.weight.double() + layer.bias.double()
    return scale, shift


def _channel(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v.view(1, -1, *([1] * (ndim - 2)))


@torch.no_grad()
def propagate(layers: list[nn.Module], lower: torch.Tensor, upper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Interval bounds (lower, upper) of ``layers`` applied to every point of the box ``[lower, upper]``."""
    lo, up = lower.double(), upper.double()
    for layer in layers:
        if isinstance(layer, _IDENTITY):
            continue
        if isinstance(layer, _MONOTONE):
            lo, up = layer(lo), layer(up)
            continue
        c, r = (lo + up) / 2, (up - lo) / 2
        if isinstance(layer, nn.Linear):
            bias = None if layer.bias is None else layer.bias.double()
            c, r = F.linear(c, layer.weight.double(), bias), F.linear(r, layer.weight.double().abs())
        elif isinstance(layer, nn.Conv2d):
            if layer.padding_mode != "zeros":
                raise UnsupportedLayerError(f"IBP handles zero-padded Conv2d only, got padding_mode={layer.padding_mode!r}")
            kw = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
            bias = None if layer.bias is None else layer.bias.double()
            c, r = F.conv2d(c, layer.weight.double(), bias, **kw), F.conv2d(r, layer.weight.double().abs(), None, **kw)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            scale, shift = _affine_bn(layer)
            c, r = c * _channel(scale, c.ndim) + _channel(shift, c.ndim), r * _channel(scale.abs(), c.ndim)
        elif isinstance(layer, Normalize):
            mean, std = layer.mean.double(), layer.std.double()
            c, r = (c - mean) / std, r / std.abs()
        else:  # pragma: no cover - _expand refuses everything else
            raise UnsupportedLayerError(f"IBP cannot handle {type(layer).__name__}")
        lo, up = c - r, c + r
    return lo, up


def input_box(x: torch.Tensor, eps: float, box: tuple[float, float] = (0.0, 1.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """The Linf ball of radius ``eps`` around ``x`` intersected with the input box."""
    x = x.double()
    return (x - eps).clamp(min=box[0]), (x + eps).clamp(max=box[1])


def interval_bounds(model: nn.Module, x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds (N, K) of the logits over the eps-box around ``x`` (N, C, H, W)."""
    return propagate(ibp_layers(model, x[:1]), *input_box(x, eps))


@torch.no_grad()
def margin_lower_bounds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Lower bounds (N, K) of ``z_y - z_j`` over the eps-box (``+inf`` at ``j = y``), with the last layer elided.

    Without a final ``Linear`` the bound is ``lower_y - upper_j`` from the logit bounds.
    """
    layers = ibp_layers(model, x[:1])
    lo, up = input_box(x, eps)
    n = x.shape[0]
    rows = torch.arange(n, device=x.device)
    last = layers[-1]
    if isinstance(last, nn.Linear):
        h_lo, h_up = propagate(layers[:-1], lo, up)
        c, r = (h_lo + h_up) / 2, (h_up - h_lo) / 2
        w = last.weight.double()
        b = last.bias.double() if last.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64, device=w.device)
        dw = w[y].unsqueeze(1) - w.unsqueeze(0)                     # (N, K, D): W_y - W_j
        db = b[y].unsqueeze(1) - b.unsqueeze(0)                     # (N, K)
        bound = torch.einsum("nkd,nd->nk", dw, c) + db - torch.einsum("nkd,nd->nk", dw.abs(), r)
    else:
        z_lo, z_up = propagate(layers, lo, up)
        bound = z_lo[rows, y].unsqueeze(1) - z_up
    bound[rows, y] = float("inf")
    return bound


def ibp_certified(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """(N,) bool: every other logit provably stays below the true one in the eps-box."""
    return margin_lower_bounds(model, x, y, eps).min(dim=1).values > 0
