"""Singular values of convolutional and linear layers, and clipping them to a bound.

Convolutions (Sedghi, Gupta & Long 2018, "The Singular Values of Convolutional Layers"): a
stride-1 2-D convolution with *circular* padding on an ``n1 x n2`` grid is a linear map whose
singular values are the union, over the ``n1 n2`` frequencies ``(u, v)``, of the singular
values of the ``c_out x c_in`` matrices ``P(u, v) = FFT2(K)[:, :, u, v]`` (the kernel
zero-padded to the grid). Cross-correlation, shifts and kernel flips only change ``P`` by
unitary factors, so the union is exact for PyTorch's ``Conv2d`` with ``padding_mode="circular"``
and "same" padding. Grouped convolutions are block diagonal (one block per group); dilated
kernels are expanded with zeros first.

Other cases, stated rather than hidden:

* **Zero padding.** ``grid="input"`` (Sedghi et al.'s practice, and P1's) uses the circular
  operator on the layer's input size: an approximation. ``grid="padded"`` uses the circular
  operator on the input grid enlarged by the larger side padding ``p`` (``n + p`` per axis):
  the zero-padded map equals "embed in the larger grid, circular convolution, crop", so its
  spectral norm is *at most* the computed one (a guaranteed upper bound, and so a clip on
  that grid is a guarantee). Reflect and replicate padding have no such bound.
* **Stride s > 1.** The strided map is a subsampling of the stride-1 map, so the stride-1
  values returned here bound its spectral norm from above.

Linear layers: the singular values of the weight matrix (``torch.linalg.svdvals``).

Everything is computed in float64 (and complex128) and returned in the weight's dtype.
Written by hand because neither torch nor scipy exposes convolution-operator spectra.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from bench.errors import UsageError

Grid = Literal["input", "padded"]


def _dilate(weight: torch.Tensor, dilation: tuple[int, int]) -> torch.Tensor:
    """Kernel (..., kh, kw) -> (..., d0 (kh - 1) + 1, d1 (kw - 1) + 1) with zeros between taps."""
    d0, d1 = dilation
    if (d0, d1) == (1, 1):
        return weight
    kh, kw = weight.shape[-2:]
    out = weight.new_zeros((*weight.shape[:-2], d0 * (kh - 1) + 1, d1 * (kw - 1) + 1))
    out[..., ::d0, ::d1] = weight
    return out


def transfer_matrices(weight: torch.Tensor, grid: tuple[int, int], groups: int = 1,
                      dilation: tuple[int, int] = (1, 1)) -> torch.Tensor:
    """``P(u, v)`` for every group and frequency: complex128 (groups, n1, n2, c_out/groups, c_in/groups).

    Args:
        weight: a ``Conv2d`` weight (c_out, c_in / groups, kh, kw).
        grid: (n1, n2), the spatial size of the circular operator. A (dilated) kernel larger
            than the grid is folded: taps that coincide modulo the grid are summed, as the
            circular convolution does (e.g. a 3x3 kernel on the 1x1 maps deep in a network).
    """
    if weight.dim() != 4:
        raise UsageError(f"expected a Conv2d weight (c_out, c_in/groups, kh, kw), got shape {tuple(weight.shape)}")
    c_out, c_in_g = weight.shape[:2]
    if c_out % groups:
        raise UsageError(f"c_out = {c_out} is not divisible by groups = {groups}")
    n1, n2 = int(grid[0]), int(grid[1])
    if n1 < 1 or n2 < 1:
        raise UsageError(f"the grid must be at least 1x1, got {n1}x{n2}")
    kernel = _fold(_dilate(weight.detach().to(torch.float64), dilation), (n1, n2))
    blocks = kernel.reshape(groups, c_out // groups, c_in_g, *kernel.shape[-2:])
    return torch.fft.fft2(blocks, s=(n1, n2)).permute(0, 3, 4, 1, 2)


def _fold(kernel: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Sum the taps of a kernel larger than the grid modulo the grid (a circular convolution wraps them)."""
    kh, kw = kernel.shape[-2:]
    n1, n2 = grid
    if kh <= n1 and kw <= n2:
        return kernel
    r1, r2 = -(-kh // n1), -(-kw // n2)
    padded = torch.nn.functional.pad(kernel, (0, r2 * n2 - kw, 0, r1 * n1 - kh))
    return padded.reshape(*kernel.shape[:-2], r1, n1, r2, n2).sum(dim=(-4, -2))


def conv_singular_values(weight: torch.Tensor, grid: tuple[int, int], groups: int = 1,
                         dilation: tuple[int, int] = (1, 1)) -> torch.Tensor:
    """All singular values of the circular convolution on ``grid``, sorted in descending order (1-D).

    There are ``groups * n1 * n2 * min(c_out, c_in) / groups`` of them (with multiplicity).
    """
    if weight.shape[-2:] == (1, 1):  # the same transfer matrix at every frequency: one SVD per group
        values = torch.linalg.svdvals(_pointwise_blocks(weight, groups)).flatten().repeat(int(grid[0]) * int(grid[1]))
    else:
        values = torch.linalg.svdvals(transfer_matrices(weight, grid, groups, dilation)).flatten()
    return values.sort(descending=True).values.to(weight.dtype)


def _pointwise_blocks(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """A 1x1 kernel as its per-group matrices (groups, c_out/groups, c_in/groups), float64: a 1x1
    convolution's transfer matrix ``P(u, v)`` is this matrix at every frequency (why the clip and the
    singular values of 1x1 kernels need one SVD per group, not one per frequency)."""
    if weight.shape[0] % groups:
        raise UsageError(f"c_out = {weight.shape[0]} is not divisible by groups = {groups}")
    return weight.detach().to(torch.float64).reshape(groups, weight.shape[0] // groups, weight.shape[1])


def clip_conv_weight(weight: torch.Tensor, grid: tuple[int, int], bound: float, groups: int = 1,
                     dilation: tuple[int, int] = (1, 1)) -> torch.Tensor:
    """A kernel of the same shape whose circular operator on ``grid`` has spectral norm <= ``bound``.

    Sedghi et al.'s clip: ``P(u, v) = U S V^H`` -> ``U min(S, bound) V^H`` at every frequency,
    inverse FFT, and projection back onto the kernel's support (the clipped operator is in
    general not a ``kh x kw`` convolution, so the projection can push some values back above
    the bound). As a last step, if the projected kernel's norm still exceeds ``bound`` the
    kernel is scaled by ``bound / norm``, which makes the bound hold exactly. A kernel larger
    than the grid (its taps wrap around) is only rescaled.
    """
    if bound <= 0:
        raise UsageError(f"the spectral-norm bound must be > 0, got {bound}")
    kh, kw = weight.shape[-2:]
    d0, d1 = dilation
    if (kh, kw) == (1, 1):  # P(u, v) is the kernel's matrix at every frequency: clip it once per group
        u, s, vh = torch.linalg.svd(_pointwise_blocks(weight, groups), full_matrices=False)
        kernel = (u @ (s.clamp(max=bound).unsqueeze(-1) * vh)).reshape(weight.shape)
        norm = float(torch.linalg.svdvals(_pointwise_blocks(kernel, groups)).max())
        return (kernel * (bound / norm) if norm > bound else kernel).to(weight.dtype)
    if d0 * (kh - 1) + 1 <= grid[0] and d1 * (kw - 1) + 1 <= grid[1]:
        p = transfer_matrices(weight, grid, groups, dilation)
        u, s, vh = torch.linalg.svd(p, full_matrices=False)
        clipped = u @ (s.clamp(max=bound).to(p.dtype).unsqueeze(-1) * vh)
        kernel = torch.fft.ifft2(clipped.permute(0, 3, 4, 1, 2)).real
        kernel = kernel[..., : d0 * (kh - 1) + 1: d0, : d1 * (kw - 1) + 1: d1].reshape(weight.shape)
    else:  # the kernel wraps around the grid: no support to project back onto, only the rescale below
        kernel = weight.detach().to(torch.float64)
    norm = float(torch.linalg.svdvals(transfer_matrices(kernel, grid, groups, dilation)).max())
    if norm > bound:
        kernel = kernel * (bound / norm)
    return kernel.to(weight.dtype)


def linear_singular_values(weight: torch.Tensor) -> torch.Tensor:
    """Singular values of a (out, in) weight matrix, descending."""
    return torch.linalg.svdvals(weight.detach().to(torch.float64)).to(weight.dtype)


def clip_linear_weight(weight: torch.Tensor, bound: float) -> torch.Tensor:
    """``U min(S, bound) V^T``: the nearest matrix (in Frobenius and spectral norm) with norm <= bound."""
    if bound <= 0:
        raise UsageError(f"the spectral-norm bound must be > 0, got {bound}")
    u, s, vh = torch.linalg.svd(weight.detach().to(torch.float64), full_matrices=False)
    return (u @ (s.clamp(max=bound).unsqueeze(-1) * vh)).to(weight.dtype)


def conv_grid(conv: nn.Conv2d, input_hw: tuple[int, int], grid: Grid = "input") -> tuple[int, int]:
    """The grid on which ``conv`` (seeing inputs of size ``input_hw``) is treated as circular (see module doc)."""
    h, w = int(input_hw[0]), int(input_hw[1])
    if conv.padding_mode == "circular" or grid == "input":
        return h, w
    if grid != "padded":
        raise UsageError(f"grid must be 'input' or 'padded', got {grid!r}")
    if conv.padding_mode != "zeros":
        raise UsageError(f"grid='padded' bounds zero padding only, not padding_mode={conv.padding_mode!r}")
    if isinstance(conv.padding, str):  # 'valid' or 'same' (PyTorch puts the odd extra pixel after)
        pads = [0, 0] if conv.padding == "valid" else \
            [(conv.dilation[i] * (conv.kernel_size[i] - 1) + 1) // 2 for i in range(2)]
    else:
        pads = list(conv.padding)
    return h + pads[0], w + pads[1]


def conv_input_sizes(model: nn.Module, example: torch.Tensor) -> dict[str, tuple[int, int]]:
    """Spatial input size of every ``Conv2d`` of ``model`` (by module name), from one forward pass.

    The pass runs in eval mode without gradients (train mode restored afterwards).
    """
    sizes: dict[str, tuple[int, int]] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            def hook(_m, inputs, name=name):
                sizes[name] = (int(inputs[0].shape[-2]), int(inputs[0].shape[-1]))
            handles.append(module.register_forward_pre_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return sizes


def layer_spectral_norms(model: nn.Module, sizes: dict[str, tuple[int, int]],
                         grid: Grid = "input") -> dict[str, float]:
    """Largest singular value of every ``Conv2d`` (FFT method on its grid) and ``Linear`` layer, by name.

    ``sizes`` comes from :func:`conv_input_sizes`; a ``Conv2d`` missing from it (not used by
    the forward pass) is skipped.
    """
    out: dict[str, float] = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            if name not in sizes:
                continue
            values = conv_singular_values(module.weight, conv_grid(module, sizes[name], grid), module.groups,
                                          module.dilation)
            out[name] = float(values[0])
        elif isinstance(module, nn.Linear):
            out[name] = float(linear_singular_values(module.weight)[0])
    return out


def clip_model(model: nn.Module, bound: float, sizes: dict[str, tuple[int, int]], grid: Grid = "input",
               norms: dict[str, float] | None = None) -> list[str]:
    """Clip every ``Conv2d`` and ``Linear`` layer of ``model`` in place to spectral norm <= ``bound``.

    Layers already within the bound are left bit-for-bit unchanged (``norms``, from
    :func:`layer_spectral_norms`, saves computing them again), and so are convolutions the
    forward pass did not use (absent from ``sizes``). Biases and other layers (batch norm, the
    input normalisation) are not touched. Returns the names of the clipped layers.
    """
    if bound <= 0:
        raise UsageError(f"the spectral-norm bound must be > 0, got {bound}")
    norms = layer_spectral_norms(model, sizes, grid) if norms is None else norms
    clipped = []
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, (nn.Conv2d, nn.Linear)) or name not in norms or norms[name] <= bound:
                continue
            if isinstance(module, nn.Conv2d):
                new = clip_conv_weight(module.weight, conv_grid(module, sizes[name], grid), bound,
                                       module.groups, module.dilation)
            else:
                new = clip_linear_weight(module.weight, bound)
            module.weight.copy_(new)
            clipped.append(name)
    return clipped
