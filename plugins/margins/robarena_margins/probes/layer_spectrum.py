"""Singular values of every layer, their per-layer STD and the spectral complexity (P1 Fig. 1a, 5c-d, Def. 7).

P1 plots the standard deviation of the singular values of each layer's weight (AR strength 16
gives a smaller STD than AR strength 4 in most layers, Sec. 5.2.2 and Appendix B.2) and
measures capacity by the spectral complexity ``SC(T) = prod_i ||W_i||_2`` (Def. 7). A layer's
weight is taken as the linear operator it applies:

* ``Linear``: the singular values of the (out, in) matrix;
* ``Conv2d`` (``conv="operator"``, default): the singular values of the convolution as an
  operator on the layer's input grid, by the FFT method of Sedghi, Gupta & Long (2018)
  (:func:`robarena_margins.spectral.conv_singular_values`; exact for circular padding, the
  approximation Sedghi et al. and P1 use for zero padding with ``grid="input"``; a strided
  convolution is treated as its stride-1 operator, which bounds it from above). P1 also
  clips spectral norms this way (Appendix B.4). ``conv="matrix"`` instead takes the kernel
  reshaped to a (c_out, c_in/groups * kh * kw) matrix, the other common reading of "weight
  matrix".

Batch-norm scales, biases and the input normalisation are not weights of this product (P1's
spectral-complexity experiments use ResNets without batch norm). Convolutions the forward
pass does not use are skipped.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.errors import UsageError
from robarena_margins.spectral import conv_grid, conv_input_sizes, conv_singular_values, linear_singular_values
from robarena_margins.std_difference import STD_PREFIX


class LayerSpectrumConfig(BaseConfig):
    conv: Literal["operator", "matrix"] = Field(
        "operator", description="a conv's weight as its operator on the input grid (FFT, Sedghi et al.) "
                                "or as the reshaped (c_out, c_in*kh*kw) kernel matrix")
    grid: Literal["input", "padded"] = Field(
        "input", description="operator grid for zero padding (see robarena_margins.spectral): 'input' = "
                             "Sedghi et al.'s and P1's approximation, 'padded' = a guaranteed upper bound")


def layer_singular_values(model: nn.Module, example: torch.Tensor, conv: str = "operator",
                          grid: str = "input") -> dict[str, np.ndarray]:
    """All singular values (float64, descending) of every ``Conv2d`` and ``Linear`` of ``model``, by module name.

    ``example`` (1, C, H, W) fixes each convolution's input grid (one forward pass, eval mode).
    Layers come in ``named_modules`` order.
    """
    sizes = conv_input_sizes(model, example)
    out: dict[str, np.ndarray] = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            if name not in sizes:
                continue
            if conv == "operator":
                values = conv_singular_values(module.weight.double(), conv_grid(module, sizes[name], grid),
                                              module.groups, module.dilation)
            elif conv == "matrix":
                values = torch.linalg.svdvals(module.weight.detach().double().flatten(1))
            else:
                raise UsageError(f"conv must be 'operator' or 'matrix', got {conv!r}")
        elif isinstance(module, nn.Linear):
            values = linear_singular_values(module.weight.double())
        else:
            continue
        out[name] = values.detach().cpu().numpy()
    return out


class LayerSpectrumProbe(Probe):
    """Per-layer singular values, their STD, and the log spectral complexity of the model.

    Columns: ``log_spectral_complexity`` = ``sum_i ln ||W_i||_2`` (natural log of P1 Def. 7's
    product, which overflows for deep networks), ``mean_sv_std`` (mean over layers of the
    per-layer STD), ``max_spectral_norm``, ``n_layers``; and one extra column per layer,
    ``sv_std.<module name>`` (population STD, ``ddof = 0``, of all of the layer's singular
    values with multiplicity), from which P1 Appendix B.2's accumulated STD differences between
    two models are computed (:func:`robarena_margins.std_difference.accumulated_std_difference`).

    Arrays: ``sv_std`` (L,) and ``spectral_norm`` (L,) in layer order (the order of the
    ``sv_std.*`` columns; also as ``*_per_layer``, which leaderboard pages plot per layer), ``singular_values.<module name>`` (all of that layer's values,
    descending). Input-independent except for the grid: it reads one test example.

    Args (``LayerSpectrumConfig``): conv="operator", grid="input".
    """

    Config = LayerSpectrumConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """One forward of one example (the convolutions' input grids); the singular values are FFTs and SVDs of
        the weights, no passes."""
        return Cost(forward=1.0)

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        values = layer_singular_values(model, data.x[:1].to(data.device), self.config.conv, self.config.grid)
        if not values:
            raise UsageError("probe layer-spectrum found no Conv2d or Linear layer in the model")
        names = list(values)
        stds = np.array([values[n].std() for n in names])
        norms = np.array([values[n].max() for n in names])
        with np.errstate(divide="ignore"):
            log_sc = float(np.log(norms).sum())
        scalars = {"log_spectral_complexity": log_sc, "mean_sv_std": float(stds.mean()),
                   "max_spectral_norm": float(norms.max()), "n_layers": float(len(names))}
        scalars.update({f"{STD_PREFIX}{n}": float(s) for n, s in zip(names, stds)})
        # "*_per_layer" names get a per-layer plot in leaderboard pages (docs/plugin-guide.md, Plots)
        arrays = {"sv_std": stds, "spectral_norm": norms, "sv_std_per_layer": stds, "spectral_norm_per_layer": norms}
        arrays.update({f"singular_values.{n}": values[n] for n in names})
        return ProbeResult(scalars, arrays)

