"""Severity is monotone where it matters: a trained digits classifier's accuracy, averaged over the
15 corruptions, falls from severity 1 to 5 (Hendrycks & Dietterich 2019's severity levels are
ordered by the damage they do to a model, not only by the size of the change)."""
import torch
from torch import nn

from bench.registry import get_registry
from robarena_corruptions import CORRUPTIONS, SEVERITIES, corrupt


def _trained_digits_mlp():
    data = get_registry().get("dataset", "core/digits").load()()()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(400):
        idx = torch.randint(0, data.x_train.shape[0], (64,), generator=g)
        loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), data.x_test[:300], data.y_test[:300]


def test_mean_accuracy_over_corruptions_falls_with_severity():
    model, x, y = _trained_digits_mlp()
    with torch.no_grad():
        _check(model, x, y)


def _check(model, x, y):
    clean = float((model(x).argmax(1) == y).double().mean())
    assert clean > 0.9  # a competent model, else the check says nothing
    mean = []
    for s in SEVERITIES:
        accs = [float((model(corrupt(x, name, s, torch.Generator().manual_seed(k))).argmax(1) == y).double().mean())
                for k, name in enumerate(CORRUPTIONS)]
        mean.append(sum(accs) / len(accs))
    # non-increasing up to one example's worth of noise per corruption average, and clearly lower at 5
    for a, b in zip(mean, mean[1:]):
        assert b <= a + 1 / x.shape[0], mean
    assert mean[0] <= clean + 1 / x.shape[0] and mean[-1] < mean[0] - 0.05, (clean, mean)
