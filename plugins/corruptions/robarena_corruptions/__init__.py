"""robarena-corruptions: the 15 common corruptions of Hendrycks & Dietterich (2019), 5 severities.

``corrupt(x, name, severity, generator)`` takes float images in [0, 1] shaped (N, C, H, W), C = 1
or 3, any size, and returns the corrupted images clipped to [0, 1] with the same shape and dtype.
All randomness is drawn from ``generator`` (a CPU ``torch.Generator``), so a seed fixes the output.

Why not the ``imagecorruptions`` package (the reference code, packaged): it needs scikit-image,
OpenCV and Wand/ImageMagick (none in the pinned stack), draws from numpy's global RNG instead of a
given generator, crops its frost photographs to the image (failing for images larger than the
crops' source and meaningless at 8x8), and loops in Python per pixel (glass blur). So the
corruptions are written in torch here, with the CIFAR-10-C parameters and a size rule (see
:mod:`._ops` and docs/corruptions.md). Importing the package is cheap (the plugin's specs load without torch); the names below come from
:mod:`robarena_corruptions.api` on first use.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["CORRUPTIONS", "DETERMINISTIC", "FAMILIES", "PARAMS", "SEVERITIES", "corrupt"]
_SUBMODULES = ("blur", "digital", "noise", "weather")


def __getattr__(name: str) -> Any:
    import importlib

    if name in __all__:
        return getattr(importlib.import_module("robarena_corruptions.api"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"robarena_corruptions.{name}")
    raise AttributeError(f"module 'robarena_corruptions' has no attribute {name!r}")
