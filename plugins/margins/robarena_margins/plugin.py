"""The ``margins`` plugin (P1): specs only. Implementations are named lazily as ``module:Class``.

This module imports neither torch nor any implementation module, so discovering the plugin
is cheap; the registry imports a target on first use.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import DefenseSpec, Paper

PKG = "robarena_margins"

P1 = Paper(
    title="Towards Understanding the Regularization of Adversarial Robustness on Neural Networks",
    authors="Anonymous (ICLR 2020 submission)", year=2020, key="P1",
)


@hookimpl
def robarena_defenses() -> list[DefenseSpec]:
    return [
        DefenseSpec(
            name="spectral-clip", version="1", target=f"{PKG}.defenses.spectral_clip:SpectralClip",
            summary="PGD-AT (or standard) training with every conv (FFT operator, Sedghi et al. 2018) and linear "
                    "layer's spectral norm clipped to a bound in {1, 3, 5, None} after each epoch (P1 B.4); "
                    "default bound 1, PGD-AT Linf 8/255, 10 steps of 2/255",
            paper=P1,
        ),
    ]
