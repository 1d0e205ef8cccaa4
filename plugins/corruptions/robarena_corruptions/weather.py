"""Weather corruptions: snow, frost, fog, brightness.

Textures (snow layer, frost, fog) are drawn on the CIFAR-equivalent grid -- short side 32 pixels,
aspect ratio kept (:func:`._ops.ref_grid`) -- with the CIFAR-10-C parameters unchanged, then resized
to the image (area average when shrinking, bilinear when enlarging). Their texture scale therefore
follows the image size: a snowflake 1 pixel wide at 32x32 is 1/4 pixel (averaged) at 8x8 and 2
pixels at 64x64.

Frost: the reference blends crops of six photographs of frost shipped as image files. This plugin
ships no images; it synthesizes a frost texture procedurally (:func:`frost_texture`): ridged fractal
noise (the bright vein-like crystal boundaries), plus fine grain, scaled to mean 0.5 and, for RGB,
tinted bluish white. The blend weights are the reference's.

Fog: the reference's diamond-square plasma fractal is replaced by power-law (spectral) noise with
beta = log2(wibbledecay), see :func:`._ops.power_noise`.
"""
from __future__ import annotations

import math

import torch

from ._ops import gray, motion_blur, power_noise, ref_grid, resize, uniform, zoom_center

# (mean, std, zoom, threshold, motion radius, motion sigma, blend)
SNOW = ((0.1, 0.2, 1.0, 0.6, 8, 3, 0.95), (0.1, 0.2, 1.0, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8))
FROST = ((1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))  # (image weight, frost weight)
FOG = ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75))     # (fog amount, wibbledecay)
BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)                                  # added to HSV value
FROST_TINT = (0.86, 0.93, 1.0)


def snow(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    mean, std, zoom, thresh, radius, sigma, blend = SNOW[severity - 1]
    n, _, h, w = x.shape
    hr, wr = ref_grid(x)
    layer = mean + std * torch.randn((n, 1, hr, wr), generator=generator, dtype=x.dtype)
    layer = zoom_center(layer, zoom)
    layer = torch.where(layer < thresh, torch.zeros_like(layer), layer).clamp(0, 1)
    angles = uniform((n,), -135.0, -45.0, generator)
    layer = motion_blur(layer, radius, sigma, angles)
    layer = resize(layer, (h, w))
    x = blend * x + (1 - blend) * torch.maximum(x, gray(x) * 1.5 + 0.5)
    return x + layer + torch.flip(layer, dims=(-2, -1))


def frost_texture(n: int, h: int, w: int, channels: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """Procedural frost on an (h, w) grid, (n, channels, h, w), mean 0.5, values in [0, 1]."""
    veins = 1 - (2 * power_noise(n, h, w, 1.3, generator) - 1).abs()      # ridges where the noise crosses its middle
    veins = veins ** 4
    grain = power_noise(n, h, w, 0.3, generator)
    tex = 0.7 * veins + 0.3 * grain
    tex = tex * (0.5 / tex.mean(dim=(2, 3), keepdim=True).clamp_min(1e-6))
    tex = tex.clamp(0, 1).to(dtype)
    if channels == 3:
        tex = tex * torch.tensor(FROST_TINT, dtype=dtype).view(1, 3, 1, 1)
    return tex


def frost(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    a, b = FROST[severity - 1]
    n, c, h, w = x.shape
    hr, wr = ref_grid(x)
    tex = resize(frost_texture(n, hr, wr, c, generator, x.dtype), (h, w))
    return a * x + b * tex


def fog(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    amount, decay = FOG[severity - 1]
    n, _, h, w = x.shape
    hr, wr = ref_grid(x)
    plasma = resize(power_noise(n, hr, wr, math.log2(decay), generator).to(x.dtype), (h, w))
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x + amount * plasma) * peak / (peak + amount)


def brightness(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Adds c to the HSV value channel, clipped at 1, hue and saturation kept (the reference's
    rgb2hsv / hsv2rgb round trip in closed form: every channel scales by V'/V; a black pixel becomes
    gray V'). For one channel, the value is the intensity."""
    c = BRIGHTNESS[severity - 1]
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + c).clamp(max=1.0)
    ratio = torch.where(v > 0, v_new / v.clamp_min(1e-12), torch.zeros_like(v))
    return torch.where(v > 0, x * ratio, v_new.expand_as(x))


PARAMS = {"snow": SNOW, "frost": FROST, "fog": FOG, "brightness": BRIGHTNESS}
FUNCS = {"snow": snow, "frost": frost, "fog": fog, "brightness": brightness}
