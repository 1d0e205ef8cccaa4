"""PNG image grids for task artifacts (``torchvision.utils.make_grid``, encoded by Pillow)."""
from __future__ import annotations

import io
import json
from typing import Optional, Sequence

import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from torchvision.utils import make_grid

from bench.errors import UsageError

PADDING = 2
#: PNG text keyword under which a grid declares its row labels (a JSON list, top to bottom); the
#: leaderboard page labels the rows with it (bench.leaderboard.grids, docs/plugin-guide.md "Plots")
GRID_ROWS_KEY = "robarena:grid-rows"


def png_grid(rows: Sequence[torch.Tensor], scale: int = 1, labels: Optional[Sequence[str]] = None) -> bytes:
    """PNG bytes of a grid with one row per batch in ``rows`` (each (N, C, H, W) in [0, 1], same shape).

    ``scale`` enlarges every pixel to ``scale x scale`` (nearest neighbour) so that 8 x 8 digits
    stay visible. The grid is ``len(rows)`` images tall and N wide, with ``PADDING`` pixels
    between images; one-channel images are written as greyscale, three-channel as RGB.
    ``labels`` (one per row) are written into the PNG as its declared row layout.
    """
    if not rows:
        raise UsageError("an image grid needs at least one row")
    if labels is not None and len(labels) != len(rows):
        raise UsageError(f"an image grid of {len(rows)} rows needs {len(rows)} row labels, got {len(labels)}")
    shape = tuple(rows[0].shape)
    if len(shape) != 4 or shape[1] not in (1, 3) or any(tuple(r.shape) != shape for r in rows):
        raise UsageError(f"image grid rows must be (N, 1 or 3, H, W) batches of one shape, got "
                         f"{[tuple(r.shape) for r in rows]}")
    if scale < 1:
        raise UsageError(f"scale must be >= 1, got {scale}")
    images = torch.cat([r.detach().float().cpu().clamp(0, 1) for r in rows])
    if scale > 1:
        images = images.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    grid = make_grid(images, nrow=shape[0], padding=PADDING, pad_value=1.0)
    pixels = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    if shape[1] == 1:
        pixels = pixels[:, :, 0]  # make_grid repeats one channel three times
    info = None
    if labels is not None:
        info = PngInfo()
        info.add_text(GRID_ROWS_KEY, json.dumps([str(label) for label in labels]))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()

