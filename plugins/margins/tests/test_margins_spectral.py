"""FFT singular values of convolutions against dense SVDs of the unrolled operators, and clipping."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.errors import UsageError
from margins_helpers import registered
from robarena_margins.spectral import (clip_conv_weight, clip_linear_weight, conv_grid, conv_input_sizes,
                                       conv_singular_values, layer_spectral_norms, linear_singular_values)


def seeded_conv(c_in, c_out, k, seed, **kwargs) -> nn.Conv2d:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Conv2d(c_in, c_out, k, bias=False, **kwargs).double()


def dense(conv: nn.Conv2d, c_in: int, h: int, w: int) -> torch.Tensor:
    """The conv as a (d_out, d_in) matrix: its outputs on the standard basis, as columns."""
    d = c_in * h * w
    with torch.no_grad():
        out = conv(torch.eye(d, dtype=torch.float64).view(d, c_in, h, w))
    return out.reshape(d, -1).T


def dense_svdvals(conv, c_in, h, w) -> torch.Tensor:
    return torch.linalg.svdvals(dense(conv, c_in, h, w))


def test_circular_conv_2_to_3_channels_on_6x6_matches_the_dense_svd():
    conv = seeded_conv(2, 3, 3, seed=0, padding=1, padding_mode="circular")
    fft = conv_singular_values(conv.weight, (6, 6))
    ref = dense_svdvals(conv, 2, 6, 6)  # 108 x 72: 72 singular values, as many as 36 frequencies x min(2, 3)
    assert fft.shape == ref.shape == (72,)
    torch.testing.assert_close(fft, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kwargs, c_in, c_out, hw", [
    ({"groups": 2}, 4, 6, (5, 7)),                          # block diagonal, non-square grid
    ({"dilation": 2, "padding": 2}, 2, 2, (7, 6)),         # dilated kernel spans 5x5
    ({"padding": 0}, 3, 2, (6, 6)),                         # "valid": a crop of the circular operator
])
def test_grouped_and_dilated_circular_convs_match_the_dense_svd(kwargs, c_in, c_out, hw):
    conv = seeded_conv(c_in, c_out, 3, seed=1, padding_mode="circular", **{"padding": 1, **kwargs})
    ref = dense_svdvals(conv, c_in, *hw)
    fft = conv_singular_values(conv.weight, hw, conv.groups, conv.dilation)
    if kwargs.get("padding") == 0:  # a crop of the circular operator: its norm is at most the circular one
        assert float(ref[0]) <= float(fft[0]) + 1e-10
    else:
        torch.testing.assert_close(fft, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k, pad, stride", [(3, 1, 1), (5, 2, 1), (3, 0, 1), (3, 1, 2)])
def test_padded_grid_bounds_zero_padding_from_above(k, pad, stride):
    conv = seeded_conv(2, 3, k, seed=2, padding=pad, stride=stride)
    true_norm = float(dense_svdvals(conv, 2, 6, 6)[0])
    grid = conv_grid(conv, (6, 6), "padded")
    assert grid == (6 + pad, 6 + pad)
    assert true_norm <= float(conv_singular_values(conv.weight, grid)[0]) + 1e-10


def test_clipping_a_conv_bounds_its_operator_norm_checked_densely():
    conv = seeded_conv(2, 3, 3, seed=3, padding=1, padding_mode="circular")
    with torch.no_grad():
        conv.weight.mul_(4.0)
    before = float(dense_svdvals(conv, 2, 6, 6)[0])
    assert before > 1.5
    with torch.no_grad():
        conv.weight.copy_(clip_conv_weight(conv.weight, (6, 6), 1.0))
    assert float(dense_svdvals(conv, 2, 6, 6)[0]) <= 1.0 + 1e-4
    assert float(conv_singular_values(conv.weight, (6, 6))[0]) <= 1.0 + 1e-4


def test_clipping_leaves_a_conv_already_within_the_bound_unchanged():
    conv = seeded_conv(3, 2, 3, seed=4, padding=1, padding_mode="circular")
    norm = float(conv_singular_values(conv.weight, (5, 5))[0])
    torch.testing.assert_close(clip_conv_weight(conv.weight, (5, 5), norm * 1.01), conv.weight.detach(),
                               rtol=1e-10, atol=1e-12)


def test_linear_clip_is_min_of_singular_values_and_bound():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 8, generator=g, dtype=torch.float64) * 2
    s = linear_singular_values(w)
    clipped = clip_linear_weight(w, 2.0)
    torch.testing.assert_close(linear_singular_values(clipped), s.clamp(max=2.0), rtol=1e-10, atol=1e-10)
    assert float(s[0]) > 2.0


def test_input_sizes_and_layer_norms_of_a_small_cnn():
    model = registered("model", "classics/small-cnn")((1, 16, 16), 10).train()
    sizes = conv_input_sizes(model, torch.rand(1, 1, 16, 16))
    assert sizes == {"body.0": (16, 16), "body.2": (16, 16)} and model.training
    norms = layer_spectral_norms(model, sizes)
    assert set(norms) == {"body.0", "body.2", "body.7", "head"}
    assert norms["head"] == pytest.approx(float(torch.linalg.svdvals(model.head.weight.detach())[0]), rel=1e-5)


def test_a_kernel_larger_than_the_grid_wraps_around_exactly_as_the_circular_conv():
    """5x5 kernel, circular padding 2, on a 3x4 input: taps coincide modulo the grid and add up."""
    conv = seeded_conv(2, 3, 5, seed=6, padding=2, padding_mode="circular")
    torch.testing.assert_close(conv_singular_values(conv.weight, (3, 4)), dense_svdvals(conv, 2, 3, 4),
                               rtol=1e-10, atol=1e-10)


def test_zero_padded_conv_on_a_1x1_map_is_its_centre_tap_and_is_bounded_and_clipped():
    conv = seeded_conv(3, 4, 3, seed=7, padding=1)
    centre = torch.linalg.svdvals(conv.weight[:, :, 1, 1].detach())
    torch.testing.assert_close(dense_svdvals(conv, 3, 1, 1), centre, rtol=1e-10, atol=1e-10)
    grid = conv_grid(conv, (1, 1), "padded")  # 2x2: smaller than the kernel, folded
    assert grid == (2, 2) and float(centre[0]) <= float(conv_singular_values(conv.weight, grid)[0]) + 1e-10
    with torch.no_grad():
        conv.weight.copy_(clip_conv_weight(conv.weight, grid, 0.3))
    assert float(conv_singular_values(conv.weight, grid)[0]) <= 0.3 + 1e-4
    assert float(dense_svdvals(conv, 3, 1, 1)[0]) <= 0.3 + 1e-4


def test_bad_inputs_raise_clear_errors():
    conv = seeded_conv(1, 1, 5, seed=0)
    with pytest.raises(UsageError, match="at least 1x1"):
        conv_singular_values(conv.weight, (0, 4))
    with pytest.raises(UsageError, match="bound must be > 0"):
        clip_conv_weight(conv.weight, (8, 8), 0.0)
    with pytest.raises(UsageError, match="zero padding only"):
        conv_grid(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), (8, 8), "padded")


@pytest.mark.parametrize("groups, c_in, c_out", [(1, 3, 5), (2, 4, 6)])
def test_1x1_kernels_take_one_svd_per_group_and_match_the_dense_operator(groups, c_in, c_out):
    """A 1x1 convolution's transfer matrix is its channel matrix at every frequency: the shortcut's
    singular values equal the dense operator's, and its clip has singular values min(s, bound)."""
    conv = seeded_conv(c_in, c_out, 1, seed=3, groups=groups)
    conv.weight.data *= 3.0
    torch.testing.assert_close(conv_singular_values(conv.weight, (4, 5), groups), dense_svdvals(conv, c_in, 4, 5),
                               rtol=1e-10, atol=1e-10)
    bound = 0.5 * float(conv_singular_values(conv.weight, (4, 5), groups)[0])
    clipped = nn.Conv2d(c_in, c_out, 1, bias=False, groups=groups).double()
    clipped.weight.data = clip_conv_weight(conv.weight, (4, 5), bound, groups)
    expected = torch.sort(torch.minimum(dense_svdvals(conv, c_in, 4, 5), torch.tensor(bound, dtype=torch.float64)),
                          descending=True).values
    torch.testing.assert_close(dense_svdvals(clipped, c_in, 4, 5), expected, rtol=1e-9, atol=1e-9)
