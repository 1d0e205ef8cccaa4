"""The P4 CNN, the label-hypothesis network and the VIB wrapper: layouts, known scores, closed forms."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import UsageError
from bench.testing.tiny import TinyConv
from robarena_guessfirst.models.cnn import GuessFirstCNN, GuessFirstCNNConfig
from robarena_guessfirst.models.hypothesis import HypothesisHead, LabelHypothesisNet, label_hypothesis_from
from robarena_guessfirst.models.vib import VIBClassifier, gaussian_kl_to_standard


def seeded(factory, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return factory()


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_cnn_layout_on_mnist_shape_pins_p4_appendix_f():
    """28x28 -> 14 -> 7 with padding 1; parameter count written out layer by layer."""
    m = GuessFirstCNN((1, 28, 28), 10).eval()
    assert GuessFirstCNNConfig().model_dump() == {"channels": (32, 64), "fc": (512, 256, 128), "padding": 1}
    assert m.conv_dim == 64 * 7 * 7
    convs = (1 * 32 * 16 + 32) + 2 * 32 + (32 * 64 * 16 + 64) + 2 * 64
    fcs = (3136 * 512 + 512) + (512 * 256 + 256) + (256 * 128 + 128)
    assert n_params(m) == convs + fcs + (128 * 10 + 10)
    bns = [mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)]
    assert len(bns) == 2
    x = torch.rand(3, 1, 28, 28)
    assert m(x).shape == (3, 10) and m.features(x).shape == (3, 128)


def test_cnn_accepts_8x8_digits_and_rejects_too_small_inputs():
    m = GuessFirstCNN((1, 8, 8), 10)
    assert m.conv_dim == 64 * 2 * 2 and m(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(UsageError, match="too small"):
        GuessFirstCNN((1, 8, 8), 10, GuessFirstCNNConfig(padding=0))
    with pytest.raises(ValueError, match="two positive widths"):
        GuessFirstCNNConfig(fc=(64,))


def test_hypothesis_head_equals_explicit_concatenation():
    """T(x, y) = out(relu(L3(relu(L2(relu(L1([h; e_y]))))))) computed with torch.cat, one y at a time."""
    head = seeded(lambda: HypothesisHead(6, 4, (5, 3, 2))).double()
    h = torch.randn(7, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = head(h)
    for y in range(4):
        e = F.one_hot(torch.full((7,), y), 4).double()
        a = torch.cat([h, e], dim=1)
        for layer in head.layers:
            a = torch.relu(layer(a))
        torch.testing.assert_close(t[:, y], head.out(a).squeeze(1))
    assert head.hidden(h, 2).shape == (7, 4, 3)


def known_score_net(k: int = 4, big: float = 1e3) -> LabelHypothesisNet:
    """T(x, y) = relu(x_flat[y]) for inputs in [0, 1]: the first layer's unit j sees
    x_j + big * [y = j] - big, so only unit y survives the ReLU; later layers pass it on."""
    d = 16
    net = LabelHypothesisNet(nn.Flatten(), d, (1, 4, 4), k, nn.Identity(), widths=(k, k))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        first, second = net.head.layers
        first.weight[:, :d] = torch.eye(k, d)
        first.weight[:, d:] = big * torch.eye(k)
        first.bias.fill_(-big)
        second.weight.copy_(torch.eye(k))
        net.head.out.weight.fill_(1.0)
    return net.eval()


def test_prediction_is_the_argmax_over_hypotheses_of_known_scores():
    net = known_score_net()
    x = torch.rand(20, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    logits = net(x)
    expected = x.flatten(1)[:, :4]
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-4)
    assert torch.equal(logits.argmax(1), expected.argmax(1))


def test_label_hypothesis_cuts_the_p4_cnn_after_the_second_convolution():
    cnn = seeded(lambda: GuessFirstCNN((1, 8, 8), 10))
    convs = cnn.convs
    net = label_hypothesis_from(cnn)
    assert net.trunk is convs and net.head.in_dim == 256 and net.head.layers[0].in_features == 256 + 10
    assert [layer.out_features for layer in net.head.layers] == [512, 256, 128]
    assert not any(k.startswith(("fcs", "head.weight")) for k in net.state_dict())
    x = torch.rand(3, 1, 8, 8)
    t, rep = net.eval().scores_and_hidden(x, 2)
    torch.testing.assert_close(t, net(x))
    assert rep.shape == (3, 10, 256)


def test_label_hypothesis_on_another_classifier_uses_its_penultimate_features():
    tiny = seeded(lambda: TinyConv((1, 8, 8), 10))
    net = label_hypothesis_from(tiny).eval()
    assert net.head.in_dim == 32
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(net.features(x), tiny.body(x))
    with pytest.raises(UsageError, match="Classifier"):
        label_hypothesis_from(nn.Linear(3, 3))


def test_vib_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(5, 7, generator=g, dtype=torch.float64)
    std = torch.rand(5, 7, generator=g, dtype=torch.float64) + 0.1
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, std),
                                            torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(std)))
    torch.testing.assert_close(gaussian_kl_to_standard(mu, std), ref.sum(-1))
    assert float(gaussian_kl_to_standard(torch.zeros(1, 3), torch.ones(1, 3))) == 0.0


def test_vib_bottleneck_sits_after_the_second_fc_layer_and_evaluates_the_mean():
    cnn = seeded(lambda: GuessFirstCNN((1, 8, 8), 10))
    vib = seeded(lambda: VIBClassifier(cnn)).eval()
    assert vib.bottleneck_dim == 256 and vib.mu.in_features == 256
    x = torch.rand(4, 1, 8, 8)
    mu, std = vib.encode(x)
    torch.testing.assert_close(vib(x), vib.decode(mu))
    # decoder = FC 128, ReLU, head of the CNN
    torch.testing.assert_close(vib.decode(mu), cnn.head(torch.relu(cnn.fcs[4](mu))))
    torch.testing.assert_close(std, F.softplus(vib.std_pre(cnn.fcs[:4](cnn.convs(x))) - 5.0))
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    eps = torch.randn(mu.shape, generator=g2)
    torch.testing.assert_close(vib.sample(mu, std, g1), mu + std * eps)
    tiny_vib = VIBClassifier(TinyConv((1, 8, 8), 10))
    assert tiny_vib.bottleneck_dim == 32 and tiny_vib(x).shape == (4, 10)
