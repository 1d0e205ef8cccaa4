"""The inversion grid declares its row labels (read back by the leaderboard as the page does), one per
image row, for every combination of the variants."""
from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from bench.api import TaskInput
from bench.api.data import DatasetSplits
from bench.errors import UsageError
from bench.leaderboard.grids import grid_layout
from bench.testing.tiny import TinyConv, tiny_batch
from robarena_infotransfer.images import PADDING, png_grid
from robarena_infotransfer.tasks.inversion import InversionConfig, InversionTask


def _splits() -> DatasetSplits:
    x_train, y_train = tiny_batch((1, 8, 8), n=16, seed=0)
    x_test, y_test = tiny_batch((1, 8, 8), n=4, seed=1)
    return DatasetSplits(x_train, y_train, x_test, y_test, num_classes=10)


@pytest.mark.parametrize("noise_once, effective, expected", [
    (True, True, ("original", "inversion", "inversion, weight noise once", "effective image")),
    (True, False, ("original", "inversion", "inversion, weight noise once")),
    (False, True, ("original", "inversion", "effective image")),
    (False, False, ("original", "inversion")),
])
def test_inversion_grid_declares_its_rows(noise_once, effective, expected):
    torch.manual_seed(0)
    config = InversionConfig(n_images=2, steps=3, step_size=0.1, fisher_examples=8, png_scale=2,
                             noise_once=noise_once, effective_images=effective)
    result = InversionTask(config, seed=0)(TinyConv((1, 8, 8), 10).eval(),
                                          TaskInput(data=_splits(), device=torch.device("cpu")))
    png = result.artifacts["inversion.png"]
    layout = grid_layout(png)
    assert layout.rows == expected and layout.columns == ()
    height = Image.open(io.BytesIO(png)).height
    assert height == len(expected) * (8 * 2 + PADDING) + PADDING  # one label per image row


def test_png_grid_labels_must_match_the_rows():
    x = torch.zeros(2, 1, 4, 4)
    assert grid_layout(png_grid([x, x])).rows == ()  # no labels given: none declared
    assert grid_layout(png_grid([x, x], labels=["a", "b ü"])).rows == ("a", "b ü")
    with pytest.raises(UsageError, match="2 rows needs 2 row labels, got 1"):
        png_grid([x, x], labels=["a"])
