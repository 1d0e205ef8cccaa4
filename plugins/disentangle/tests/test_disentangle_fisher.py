"""The matrix-free input Fisher information against dense computations and closed forms (P0 Eq. 9)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from disentangle_helpers import closed_form_fisher, softmax_linear
from robarena_disentangle.fisher import (FisherOperator, ShrinkingFisherMatvec, gram_statistics,
                                         input_gradients_only, kl_from_logits, power_iteration, softmax_quadratic)


def small_convnet(seed=0, dtype=torch.float64, activation=nn.ReLU):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), activation(), nn.Conv2d(4, 6, 3, stride=2, padding=1),
                            nn.Tanh(), nn.Flatten(), nn.Linear(6 * 3 * 3, 5))
    return net.to(dtype).eval()


def dense_fisher_by_definition(model, x):
    """Eq. 9 literally: sum_j p_j grad log p_j grad log p_j^T from the dense Jacobian of log-softmax."""
    out = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda z: model(z.unsqueeze(0)).log_softmax(dim=1)[0], xi)
        jac = jac.reshape(jac.shape[0], -1)  # (L, d): row j = grad log p_j
        p = model(xi.unsqueeze(0)).softmax(dim=1)[0]
        out.append(torch.einsum("j,ja,jb->ab", p, jac, jac))
    return torch.stack(out)


def shrinking(model, x):
    return ShrinkingFisherMatvec(FisherOperator(model, x))


def test_softmax_linear_norms_and_products_match_the_closed_form():
    model = softmax_linear()
    x = torch.rand(6, 1, 3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dense = closed_form_fisher(model, x).detach()
    with input_gradients_only(model):
        op = FisherOperator(model, x)
        stats = gram_statistics(op.gram())
        rows = op.score_rows()
        v = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        fv = op.matvec(v)
        quad = op.quadratic(v)
    eig = torch.linalg.eigvalsh(dense)
    torch.testing.assert_close(stats["fnorm"], torch.linalg.matrix_norm(dense))
    torch.testing.assert_close(stats["trace"], dense.diagonal(dim1=1, dim2=2).sum(1))
    torch.testing.assert_close(stats["spectral"], eig[:, -1])
    torch.testing.assert_close(rows.transpose(1, 2) @ rows, dense)  # F = B^T B
    torch.testing.assert_close(fv.flatten(1), (dense @ v.flatten(1).unsqueeze(2)).squeeze(2))
    torch.testing.assert_close(quad, torch.einsum("na,nab,nb->n", v.flatten(1), dense, v.flatten(1)))
    assert (eig[:, 0].abs() < 1e-10).all()  # rank <= L - 1 < d: F is singular


def test_power_iteration_finds_the_closed_form_leading_eigenpair_of_softmax_linear():
    model = softmax_linear(seed=3)
    x = torch.rand(5, 1, 3, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    evals, evecs = torch.linalg.eigh(closed_form_fisher(model, x).detach())
    v0 = torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with input_gradients_only(model):
        value, vec, steps = power_iteration(shrinking(model, x), v0, iters=2000, tol=1e-10)
    assert (steps <= 2000).all()
    torch.testing.assert_close(value, evals[:, -1], rtol=1e-8, atol=0)
    overlap = (vec.flatten(1) * evecs[:, :, -1]).sum(1).abs()  # equal up to sign
    torch.testing.assert_close(overlap, torch.ones(5, dtype=torch.float64), rtol=0, atol=1e-6)


def test_the_jacobian_form_equals_eq9_on_a_conv_net_and_power_iteration_matches_eigh():
    net = small_convnet()
    x = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    dense = dense_fisher_by_definition(net, x).detach()
    evals, evecs = torch.linalg.eigh(dense)
    with input_gradients_only(net):
        stats = gram_statistics(FisherOperator(net, x).gram())
        v0 = torch.randn(x.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
        value, vec, _ = power_iteration(shrinking(net, x), v0, iters=3000, tol=1e-10)
    torch.testing.assert_close(stats["fnorm"], torch.linalg.matrix_norm(dense))
    torch.testing.assert_close(stats["spectral"], evals[:, -1])
    assert ((evals[:, -1] - evals[:, -2]) / evals[:, -1] > 1e-3).all()  # a gap, so the eigenvector is defined
    torch.testing.assert_close(value, evals[:, -1], rtol=1e-8, atol=0)
    overlap = (vec.flatten(1) * evecs[:, :, -1]).sum(1).abs()
    torch.testing.assert_close(overlap, torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-6)


def test_power_iteration_on_known_spectra_converges_freezes_and_fixes_the_sign():
    """Diagonal operators diag(3, 1, 0.5) and diag(1, 2, 0.1); a zero operator converges at once."""
    diag = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.1], [0.0, 0.0, 0.0]], dtype=torch.float64)
    calls = []

    def matvec(v, active):
        calls.append(active.clone())
        return diag[active] * v

    v0 = -torch.ones(3, 3, dtype=torch.float64)
    value, vec, steps = power_iteration(matvec, v0, iters=500, tol=1e-9)
    torch.testing.assert_close(value, torch.tensor([3.0, 2.0, 0.0], dtype=torch.float64), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(vec[:2], torch.tensor([[1.0, 0, 0], [0, 1.0, 0]], dtype=torch.float64),
                               rtol=0, atol=1e-8)  # the sign makes the largest entry positive
    assert steps[2] == 1 and steps[0] < steps[1] <= 500  # ratio 1/3 converges faster than 1/2
    assert calls[1].tolist() == [0, 1] and calls[-1].tolist() == [1]  # converged examples leave the products
    capped = power_iteration(matvec, v0, iters=3, tol=1e-12)[2]
    assert capped[:2].tolist() == [4, 4]  # never converged: iters + 1


def test_kl_and_the_softmax_quadratic_against_direct_formulas():
    g = torch.Generator().manual_seed(8)
    a, b = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)
    p, q = a.double().softmax(1).numpy(), b.double().softmax(1).numpy()
    np.testing.assert_allclose(kl_from_logits(a, b).numpy(), (p * np.log(p / q)).sum(1), rtol=1e-10)
    assert kl_from_logits(a, a).abs().max() < 1e-15
    u = torch.randn(7, 4, generator=g, dtype=torch.float64)
    cov = np.stack([np.diag(pi) - np.outer(pi, pi) for pi in p])
    np.testing.assert_allclose(softmax_quadratic(torch.from_numpy(p), u).numpy(),
                               np.einsum("ni,nij,nj->n", u.numpy(), cov, u.numpy()), rtol=1e-10)


def test_g1_is_the_second_order_term_of_kl():
    """KL(f(x) || f(x + t d)) = t^2 d^T F d / 2 + O(t^3): the remainder over KL shrinks linearly in t
    (a smooth network, so no ReLU kink sits between x and x + t d)."""
    net = small_convnet(seed=1, activation=nn.Softplus)
    g = torch.Generator().manual_seed(9)
    x = torch.rand(8, 1, 6, 6, generator=g, dtype=torch.float64)
    d = torch.randn(x.shape, generator=g, dtype=torch.float64)
    ratios = []
    with input_gradients_only(net):
        op = FisherOperator(net, x)
        for t in (1e-1, 1e-2, 1e-3):
            with torch.no_grad():
                kl = kl_from_logits(op.logits, net(x + t * d))
            g1 = 0.5 * op.quadratic(t * d)
            ratios.append(((kl - g1).abs() / kl).max().item())
    assert ratios[1] < 0.05
    assert ratios[1] < ratios[0] / 5 and ratios[2] < ratios[1] / 5


def test_input_gradients_only_restores_the_flags():
    net = small_convnet()
    net[0].bias.requires_grad_(False)
    before = [p.requires_grad for p in net.parameters()]
    with pytest.raises(RuntimeError):
        with input_gradients_only(net):
            assert not any(p.requires_grad for p in net.parameters())
            raise RuntimeError("boom")
    assert [p.requires_grad for p in net.parameters()] == before
