"""Blur corruptions: defocus, glass, motion, zoom.

Lengths (radii, sigmas, displacements) are the CIFAR-10-C values in pixels at 32x32, multiplied
by the size factor s = min(H, W) / 32 (see :func:`._ops.size_scale`); glass blur's displacement
reach (1 pixel at 32x32) becomes round(s) integer pixels, or a sub-pixel offset of s pixels
(bilinear) when s < 1. Zoom factors are ratios and need no scaling.
"""
from __future__ import annotations


import torch

from ._ops import disk_kernel, conv2d_same, gaussian_blur, motion_blur as _motion, shift_sample, size_scale, \
    uniform, zoom_center

DEFOCUS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))              # (disk radius, alias sigma)
GLASS = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))         # (sigma, max shift, iterations)
MOTION = ((10, 1.0), (10, 1.5), (10, 2.0), (10, 2.5), (12, 3.0))                     # (radius, sigma); angle ~ U(-45, 45)
ZOOM = tuple(tuple(1 + 0.01 * i for i in range(m)) for m in (6, 11, 16, 21, 26))    # zoom factors averaged


def defocus_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    radius, alias = DEFOCUS[severity - 1]
    s = size_scale(x)
    return conv2d_same(x, disk_kernel(radius * s, alias * s))


def glass_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur, local pixel displacement ``iterations`` times, Gaussian blur again.

    The reference swaps each pixel with a random neighbour within ``max shift`` in a sequential
    Python loop; here every pixel takes, in one vectorized step per iteration, the value of a
    neighbour at an integer offset drawn uniformly from [-d, d) per axis (the reference's range),
    the same offset for all channels of that pixel.
    """
    sigma, delta, iters = GLASS[severity - 1]
    s = size_scale(x)
    reach = delta * s
    # reach >= 1 pixel: integer offsets in [-d, d), d = round(reach); below one pixel (small images)
    # the offsets are {-reach, 0}, sampled bilinearly: the reference's {-1, 0} scaled by s
    d, unit = (round(reach), 1.0) if reach >= 1 else (1, reach)
    n, _, h, w = x.shape
    x = gaussian_blur(x, sigma * s)
    for _ in range(iters):
        dx = torch.randint(-d, d, (n, h, w), generator=generator).to(x.dtype) * unit
        dy = torch.randint(-d, d, (n, h, w), generator=generator).to(x.dtype) * unit
        x = shift_sample(x, dx, dy, padding="reflection")
    return gaussian_blur(x, sigma * s)


def motion_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    radius, sigma = MOTION[severity - 1]
    s = size_scale(x)
    angles = uniform((x.shape[0],), -45.0, 45.0, generator)
    return _motion(x, radius * s, sigma * s, angles)


def zoom_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    zooms = ZOOM[severity - 1]
    out = x.clone()
    for z in zooms:
        out = out + zoom_center(x, z)
    return out / (len(zooms) + 1)


PARAMS = {"defocus_blur": DEFOCUS, "glass_blur": GLASS, "motion_blur": MOTION,
          "zoom_blur": tuple((z[0], round(z[-1], 2)) for z in ZOOM)}
FUNCS = {"defocus_blur": defocus_blur, "glass_blur": glass_blur, "motion_blur": motion_blur, "zoom_blur": zoom_blur}
