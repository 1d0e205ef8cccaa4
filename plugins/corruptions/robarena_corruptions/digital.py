"""Digital corruptions: contrast, elastic, pixelate, jpeg.

Contrast and JPEG are size-free. Elastic's parameters are fractions of the image size in the
reference (CIFAR-10-C multiplies them by 32); here by min(H, W), the same size rule. Pixelate's
factor is a ratio of sizes: the image is area-averaged to floor(H * c) x floor(W * c) (at least
1 x 1) and enlarged back by nearest neighbour, so it is piecewise constant on blocks at every size.
JPEG uses Pillow (a dependency of robarena already) for the encode/decode round trip.
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ._ops import base_grid, gaussian_blur, uniform

CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)                  # factor on the deviation from the channel mean
# (alpha, sigma, affine alpha) as fractions of min(H, W): CIFAR-10-C's values divided by 32
ELASTIC = ((0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))
PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)                # side ratio of the low-resolution image
JPEG_QUALITY = (80, 65, 58, 50, 40)


def contrast(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    c = CONTRAST[severity - 1]
    m = x.mean(dim=(2, 3), keepdim=True)
    return (x - m) * c + m


def _affine_from_points(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """(n, 2, 3) affine maps taking the three points ``src`` (n, 3, 2) to ``dst`` (as cv2.getAffineTransform)."""
    a = torch.cat([src, torch.ones_like(src[..., :1])], dim=-1)       # (n, 3, 3)
    return torch.linalg.solve(a, dst).transpose(1, 2)                  # (n, 2, 3)


def elastic(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Random affine warp (three control points jittered by up to ``affine alpha``), then a smooth
    random displacement field (uniform noise blurred by ``sigma``, times ``alpha``); bilinear
    sampling, edges reflected (the reference: cv2.warpAffine, then scipy map_coordinates order 1)."""
    alpha, sigma, alpha_aff = ELASTIC[severity - 1]
    n, c, h, w = x.shape
    size = min(h, w)
    alpha, sigma, alpha_aff = alpha * size, sigma * size, alpha_aff * size
    # pixel coordinates (col, row), centre-based as in the reference
    ctr = torch.tensor([w // 2, h // 2], dtype=torch.float64)
    sq = size // 3
    pts = torch.stack([ctr + torch.tensor([sq, sq]), ctr + torch.tensor([sq, -sq]), ctr + torch.tensor([-sq, -sq])])
    src = pts.expand(n, 3, 2)
    dst = src + uniform((n, 3, 2), -alpha_aff, alpha_aff, generator, torch.float64)
    m = _affine_from_points(src, dst)                                   # (n, 2, 3), pixels -> pixels
    g = base_grid(n, h, w, torch.float64, x.device)                      # normalized (x, y)
    pix = torch.stack([(g[..., 0] + 1) * w / 2 - 0.5, (g[..., 1] + 1) * h / 2 - 0.5], dim=-1)
    mapped = torch.einsum("nij,nhwj->nhwi", m[..., :2], pix) + m[:, None, None, :, 2]
    grid = torch.stack([(mapped[..., 0] + 0.5) * 2 / w - 1, (mapped[..., 1] + 0.5) * 2 / h - 1], dim=-1)
    out = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)
    disp = uniform((n, 2, h, w), -1.0, 1.0, generator, x.dtype)
    if sigma > 1e-3:
        disp = gaussian_blur(disp, sigma)
    disp = disp * alpha
    g2 = base_grid(n, h, w, x.dtype, x.device).clone()
    g2[..., 0] += disp[:, 0] * 2 / w
    g2[..., 1] += disp[:, 1] * 2 / h
    return F.grid_sample(out, g2, mode="bilinear", padding_mode="reflection", align_corners=False)


def pixelate_size(h: int, w: int, severity: int) -> tuple[int, int]:
    c = PIXELATE[severity - 1]
    return max(1, int(math.floor(h * c))), max(1, int(math.floor(w * c)))


def pixelate(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=pixelate_size(h, w, severity), mode="area")
    return F.interpolate(small, size=(h, w), mode="nearest")


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> tuple[torch.Tensor, list[bytes]]:
    """Encode every image as JPEG at ``quality`` with Pillow and decode it; returns (images, bytes)."""
    out, blobs = [], []
    arr = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    for img in arr:
        pil = Image.fromarray(img[0], mode="L") if img.shape[0] == 1 else Image.fromarray(img.transpose(1, 2, 0), "RGB")
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=quality)
        blob = buf.getvalue()
        blobs.append(blob)
        dec = np.asarray(Image.open(io.BytesIO(blob)), dtype=np.float32) / 255.0
        dec = dec[None] if dec.ndim == 2 else dec.transpose(2, 0, 1)
        out.append(torch.from_numpy(dec.copy()))
    return torch.stack(out).to(dtype=x.dtype, device=x.device), blobs


def jpeg(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    return jpeg_roundtrip(x, JPEG_QUALITY[severity - 1])[0]


PARAMS = {"contrast": CONTRAST, "elastic": ELASTIC, "pixelate": PIXELATE, "jpeg": JPEG_QUALITY}
FUNCS = {"contrast": contrast, "elastic": elastic, "pixelate": pixelate, "jpeg": jpeg}
