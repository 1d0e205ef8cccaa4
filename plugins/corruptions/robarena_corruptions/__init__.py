"""robarena-corruptions: the 15 common corruptions of Hendrycks & Dietterich (2019), 5 severities.

``corrupt(x, name, severity, generator)`` takes float images in [0, 1] shaped (N, C, H, W), C = 1
or 3, any size, and returns the corrupted images clipped to [0, 1] with the same shape and dtype.
All randomness is drawn from ``generator`` (a CPU ``torch.Generator``), so a seed fixes the output.

Why not the ``imagecorruptions`` package (the reference code, packaged): it needs scikit-image,
OpenCV and Wand/ImageMagick (none in the pinned stack), draws from numpy's global RNG instead of a
given generator, crops its frost photographs to the image (failing for images larger than the
crops' source and meaningless at 8x8), and loops in Python per pixel (glass blur). So the
corruptions are written in torch here, with the CIFAR-10-C parameters and a size rule (see
:mod:`._ops` and docs/corruptions.md). Importing this package imports torch.
"""
from __future__ import annotations

import torch

from . import blur, digital, noise, weather

__version__ = "0.1.0"

FAMILIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic", "pixelate", "jpeg"),
}
CORRUPTIONS: tuple[str, ...] = tuple(n for names in FAMILIES.values() for n in names)
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: corruptions whose output does not depend on the generator
DETERMINISTIC: frozenset[str] = frozenset({"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg"})

_FUNCS = {**noise.FUNCS, **blur.FUNCS, **weather.FUNCS, **digital.FUNCS}
#: the parameters per severity, name -> 5-tuple (documentation and provenance)
PARAMS = {**noise.PARAMS, **blur.PARAMS, **weather.PARAMS, **digital.PARAMS}
assert set(_FUNCS) == set(CORRUPTIONS) == set(PARAMS)


def corrupt(x: torch.Tensor, name: str, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (1..5) to ``x`` (N, C, H, W) in [0, 1]; clipped to [0, 1]."""
    if name not in _FUNCS:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected (N, C, H, W) with C = 1 or 3, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"expected a float tensor in [0, 1], got {x.dtype}")
    device = x.device
    with torch.no_grad():
        out = _FUNCS[name](x.detach().cpu(), severity, generator)
    return out.clamp(0.0, 1.0).to(device=device, dtype=x.dtype)


__all__ = ["CORRUPTIONS", "DETERMINISTIC", "FAMILIES", "PARAMS", "SEVERITIES", "corrupt"]
