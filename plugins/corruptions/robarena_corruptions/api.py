"""The corruption table and :func:`corrupt` (imports torch; the package itself imports it lazily)."""
from __future__ import annotations

import torch

from robarena_corruptions import blur, digital, noise, weather

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


