"""Shared tensor operations: the size rule, separable Gaussian blur, 2-D kernels, resampling.

All functions take float tensors shaped (N, C, H, W) and are differentiable torch code; randomness
comes only from the ``torch.Generator`` passed in.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

REF_SIZE = 32  # CIFAR-10-C: the reference parameters are given for 32x32 images


def size_scale(x: torch.Tensor) -> float:
    """The size rule: s = min(H, W) / 32. A length of L pixels at 32x32 becomes L * s pixels."""
    return min(x.shape[-2], x.shape[-1]) / REF_SIZE


def ref_grid(x: torch.Tensor) -> tuple[int, int]:
    """(h, w) of the CIFAR-equivalent grid: the short side is 32, the aspect ratio is kept."""
    h, w = x.shape[-2:]
    s = size_scale(x)
    return max(1, round(h / s)), max(1, round(w / s))


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area average when shrinking, bilinear when enlarging (per axis the larger factor decides)."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    if size[0] <= t.shape[-2] and size[1] <= t.shape[-1]:
        return F.interpolate(t, size=size, mode="area")
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)


def _pad(x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    # reflection needs pad < size; replicate serves any pad
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return F.pad(x, (pw, pw, ph, ph), mode=mode)


def conv2d_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise convolution of every channel with one odd-sized 2-D ``kernel``, edges reflected."""
    kh, kw = kernel.shape
    n, c, h, w = x.shape
    k = kernel.to(x.dtype).expand(c, 1, kh, kw)
    return F.conv2d(_pad(x, kh // 2, kw // 2), k, groups=c)


def gaussian_kernel1d(sigma: float, truncate: float = 4.0, dtype=torch.float32) -> torch.Tensor:
    r = max(1, int(math.ceil(truncate * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(dtype)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (the reference's ``skimage.filters.gaussian``, mode reflect)."""
    if sigma <= 1e-3:
        return x
    k = gaussian_kernel1d(sigma, dtype=x.dtype)
    x = conv2d_same(x, k[None, :])
    return conv2d_same(x, k[:, None])


def disk_kernel(radius: float, alias_sigma: float) -> torch.Tensor:
    """A disk of ``radius`` pixels (pixel weights = covered area, 8x8 supersampled), normalized,
    then blurred by a Gaussian of ``alias_sigma`` (the reference's alias blur)."""
    r = max(1, int(math.ceil(radius + 3 * alias_sigma)))
    sub = 8
    t = (torch.arange(-r * sub, (r + 1) * sub, dtype=torch.float64) + 0.5) / sub - 0.5
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    inside = ((yy ** 2 + xx ** 2) <= radius ** 2).to(torch.float64)
    k = inside.reshape(2 * r + 1, sub, 2 * r + 1, sub).mean(dim=(1, 3))
    if k.sum() == 0:  # radius below the subsample spacing: a point
        k[r, r] = 1.0
    k = k / k.sum()
    if alias_sigma > 1e-3:
        g = gaussian_kernel1d(alias_sigma, dtype=torch.float64)
        pad = len(g) // 2
        k = F.pad(k[None, None], (pad, pad, pad, pad))
        k = F.conv2d(k, g.view(1, 1, 1, -1), padding=(0, pad))
        k = F.conv2d(k, g.view(1, 1, -1, 1), padding=(pad, 0))[0, 0]
    return (k / k.sum()).float()


def base_grid(n: int, h: int, w: int, dtype, device) -> torch.Tensor:
    """Identity sampling grid for ``grid_sample`` (align_corners=False), shaped (n, h, w, 2), (x, y)."""
    ys = (torch.arange(h, dtype=dtype, device=device) + 0.5) * 2 / h - 1
    xs = (torch.arange(w, dtype=dtype, device=device) + 0.5) * 2 / w - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], dim=-1).expand(n, h, w, 2)


def shift_sample(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Sample ``x`` at (col + dx, row + dy) in pixels, bilinear; dx, dy broadcast to (N, H, W)."""
    n, _, h, w = x.shape
    g = base_grid(n, h, w, x.dtype, x.device).clone()
    g[..., 0] = g[..., 0] + dx * 2 / w
    g[..., 1] = g[..., 1] + dy * 2 / h
    return F.grid_sample(x, g, mode="bilinear", padding_mode=padding, align_corners=False)


def motion_blur(x: torch.Tensor, radius: float, sigma: float, angles_deg: torch.Tensor) -> torch.Tensor:
    """One-sided motion blur (ImageMagick's, as the reference calls it through Wand): the mean of
    copies shifted by i pixels along the angle, i = 0..ceil(radius), weighted by a half Gaussian
    of ``sigma``; one angle per image."""
    width = max(1, int(math.ceil(radius)))
    if sigma <= 1e-3:
        return x
    i = torch.arange(width + 1, dtype=torch.float64)
    wts = torch.exp(-0.5 * (i / sigma) ** 2)
    wts = (wts / wts.sum()).to(x.dtype)
    theta = torch.deg2rad(angles_deg.to(x.dtype)).view(-1, 1, 1)
    out = torch.zeros_like(x)
    for k in range(width + 1):
        if wts[k] < 1e-6:
            continue
        out = out + wts[k] * shift_sample(x, -k * torch.cos(theta), -k * torch.sin(theta))
    return out / wts[wts >= 1e-6].sum()


def zoom_center(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Zoom into the centre by ``factor`` >= 1 and keep the size (the reference's clipped_zoom)."""
    n, _, h, w = x.shape
    g = base_grid(n, h, w, x.dtype, x.device) / factor
    return F.grid_sample(x, g, mode="bilinear", padding_mode="border", align_corners=False)


def gray(x: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R 601, as cv2.COLOR_RGB2GRAY) shaped (N, 1, H, W); a 1-channel image is itself."""
    if x.shape[1] == 1:
        return x
    wts = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * wts).sum(dim=1, keepdim=True)


def uniform(shape, low: float, high: float, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=dtype)


def power_noise(n: int, h: int, w: int, beta: float, generator: torch.Generator) -> torch.Tensor:
    """Fractal noise in [0, 1], (n, 1, h, w): white noise with amplitude spectrum |f|^-beta.

    Stands in for the reference's diamond-square plasma fractal: there each octave's amplitude is
    divided by ``wibbledecay``, i.e. amplitude ~ f^-log2(wibbledecay), so beta = log2(wibbledecay).
    """
    noise = torch.randn((n, 1, h, w), generator=generator, dtype=torch.float64)
    spec = torch.fft.fft2(noise)
    fy = torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.fftfreq(w, dtype=torch.float64).view(1, -1)
    f = torch.sqrt(fy ** 2 + fx ** 2)
    f[0, 0] = 1.0
    amp = f ** (-beta)
    amp[0, 0] = 0.0
    out = torch.fft.ifft2(spec * amp).real
    lo = out.amin(dim=(2, 3), keepdim=True)
    hi = out.amax(dim=(2, 3), keepdim=True)
    return ((out - lo) / (hi - lo).clamp_min(1e-12)).float()
