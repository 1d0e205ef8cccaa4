"""layer-spectrum probe: per-layer singular values against dense SVDs, spectral complexity, STD columns."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from bench.api.probe import ProbeInput
from margins_helpers import registered
from robarena_margins.probes.layer_spectrum import LayerSpectrumConfig, LayerSpectrumProbe

LinearClassifier = registered("model", "classics/linear")
SmallCNN = registered("model", "classics/small-cnn")


def probe_input(x: torch.Tensor) -> ProbeInput:
    return ProbeInput(x=x, y=torch.zeros(x.shape[0], dtype=torch.long), num_classes=4, device=torch.device("cpu"))


def dense_conv_matrix(conv: nn.Conv2d, c_in: int, h: int, w: int) -> np.ndarray:
    """The convolution as a (d_out, d_in) matrix: its outputs on the standard basis as columns."""
    d = c_in * h * w
    with torch.no_grad():
        out = conv(torch.eye(d, dtype=conv.weight.dtype).view(d, c_in, h, w))
    return out.reshape(d, -1).T.double().numpy()


def circular_net() -> nn.Sequential:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular", bias=False), nn.ReLU(),
                             nn.Flatten(), nn.Linear(3 * 6 * 6, 4))


def test_per_layer_values_match_dense_svds_and_the_log_spectral_complexity_is_their_sum():
    net = circular_net()
    result = LayerSpectrumProbe()(net, probe_input(torch.rand(3, 2, 6, 6)))
    conv_ref = np.linalg.svd(dense_conv_matrix(net[0], 2, 6, 6), compute_uv=False)  # 72 values
    lin_ref = np.linalg.svd(net[3].weight.detach().double().numpy(), compute_uv=False)
    np.testing.assert_allclose(result.arrays["singular_values.0"], conv_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(result.arrays["singular_values.3"], lin_ref, rtol=1e-9, atol=1e-12)
    s = result.scalars
    assert s["sv_std.0"] == pytest.approx(conv_ref.std(), rel=1e-9)
    assert s["sv_std.3"] == pytest.approx(lin_ref.std(), rel=1e-9)
    assert s["log_spectral_complexity"] == pytest.approx(math.log(conv_ref[0]) + math.log(lin_ref[0]), rel=1e-9)
    assert s["max_spectral_norm"] == pytest.approx(max(conv_ref[0], lin_ref[0]), rel=1e-9)
    assert s["mean_sv_std"] == pytest.approx((conv_ref.std() + lin_ref.std()) / 2, rel=1e-9)
    assert s["n_layers"] == 2
    np.testing.assert_allclose(result.arrays["sv_std"], [conv_ref.std(), lin_ref.std()], rtol=1e-9)
    np.testing.assert_array_equal(result.arrays["sv_std_per_layer"], result.arrays["sv_std"])
    np.testing.assert_allclose(result.arrays["spectral_norm"], [conv_ref[0], lin_ref[0]], rtol=1e-9)


def test_a_linear_models_spectral_complexity_is_its_spectral_norm():
    with torch.random.fork_rng():
        torch.manual_seed(1)
        model = LinearClassifier((1, 4, 4), 3)
    result = LayerSpectrumProbe()(model, probe_input(torch.rand(2, 1, 4, 4)))
    norm = np.linalg.norm(model.head.weight.detach().double().numpy(), ord=2)
    assert math.exp(result.scalars["log_spectral_complexity"]) == pytest.approx(norm, rel=1e-9)
    assert result.scalars["n_layers"] == 1 and set(k for k in result.scalars if k.startswith("sv_std.")) == {
        "sv_std.head"}


def test_matrix_view_takes_the_reshaped_kernel():
    net = circular_net()
    result = LayerSpectrumProbe(LayerSpectrumConfig(conv="matrix"))(net, probe_input(torch.rand(1, 2, 6, 6)))
    ref = np.linalg.svd(net[0].weight.detach().double().reshape(3, -1).numpy(), compute_uv=False)
    np.testing.assert_allclose(result.arrays["singular_values.0"], ref, rtol=1e-9)
    assert result.scalars["sv_std.0"] == pytest.approx(ref.std(), rel=1e-9)


def test_small_cnn_has_a_std_column_per_layer_and_the_probe_leaves_the_model_unchanged():
    model = SmallCNN((1, 8, 8), 10).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = LayerSpectrumProbe()(model, probe_input(torch.rand(2, 1, 8, 8)))
    assert {k for k in result.scalars if k.startswith("sv_std.")} == {
        "sv_std.body.0", "sv_std.body.2", "sv_std.body.5", "sv_std.head"}
    # conv 32 -> 64 on 8x8: 64 frequencies x min(32, 64) singular values
    assert result.arrays["singular_values.body.2"].shape == (64 * 32,)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_zero_layer_makes_the_log_complexity_minus_infinity():
    net = circular_net()
    with torch.no_grad():
        net[3].weight.zero_()
    assert LayerSpectrumProbe()(net, probe_input(torch.rand(1, 2, 6, 6))).scalars["log_spectral_complexity"] == -math.inf
