"""Benchmark helpers: trained models shared by the benchmark modules, and a ratio table (each
implementation's mean over its group's floor) at the end."""
from __future__ import annotations

import pytest


def _train_standard(data, shape, epochs, lr, defense=None):
    import torch

    from bench.api.defense import TrainContext
    from bench.config import TrainConfig
    from robarena_classics.defenses.standard import Standard
    from robarena_classics.models.small_cnn import SmallCNN

    ctx = TrainContext(device=torch.device("cpu"), seed=0, generator=torch.Generator().manual_seed(0))
    recipe = (defense or Standard)(train=TrainConfig(epochs=epochs, batch_size=64, lr=lr))
    model = recipe(lambda: SmallCNN(shape, 10), data, ctx)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


@pytest.fixture(scope="session")
def digits_cnn():
    """A standard-trained SmallCNN on the 8x8 digits; 256 test digits; Linf 0.1."""
    from bench.data.digits import Digits
    from bench.threat import ThreatModel

    data = Digits()()
    model = _train_standard(data, (1, 8, 8), epochs=5, lr=0.1)
    return model, data.x_test[:256], data.y_test[:256], ThreatModel(norm="Linf", eps=0.1)


@pytest.fixture(scope="session")
def gratings_cnn():
    """A standard-trained SmallCNN on the CIFAR-shaped generated gratings (64 test images)."""
    from bench.data.gratings import Gratings32

    data = Gratings32(Gratings32.Config(n_train=1000, n_test=64))()
    return _train_standard(data, (3, 32, 32), epochs=4, lr=0.05), data.x_test, data.y_test, None


@pytest.fixture(scope="session")
def gratings_pgdat_cnn():
    """The gratings SmallCNN adversarially trained (classics PGD-AT: Linf 8/255, 10 steps of 2/255),
    for the profile on a model whose examples mostly stay robust at small eps."""
    from bench.data.gratings import Gratings32
    from robarena_classics.defenses.pgd_at import PGDAT

    data = Gratings32(Gratings32.Config(n_train=1000, n_test=64))()
    model = _train_standard(data, (3, 32, 32), epochs=4, lr=0.05, defense=PGDAT)
    return model, data.x_test, data.y_test, None


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    import sys

    helpers = sys.modules.get("benchmark_helpers")  # imported by a module that added a table
    for title, table in (config.stash.get(helpers.SUMMARIES, {}) if helpers else {}).items():
        terminalreporter.section(title)
        for line in table:
            terminalreporter.write_line(line)
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict = {}
    for bench in session.benchmarks:
        if not getattr(bench.stats, "data", None):  # a benchmark whose test failed before timing
            continue
        groups.setdefault(bench.group, []).append(bench)
    lines = []
    for group, items in sorted(groups.items(), key=lambda kv: str(kv[0])):
        floor = next((b for b in items if "floor" in b.name), None) or \
            next((b for b in items if "naive" in b.name), None)
        if floor is None:
            continue
        base = floor.stats.mean
        for b in sorted(items, key=lambda b: b.stats.mean):
            extra = ", ".join(f"{k}={v}" for k, v in sorted(b.extra_info.items()))
            lines.append(f"{group:28} {b.name:48} {b.stats.mean * 1e3:10.1f} ms  {b.stats.mean / base:6.2f}x base  {extra}")
    if lines:
        terminalreporter.section("robarena ratios (mean / floor of the group, or / the naive loop where there is no floor)")
        for line in lines:
            terminalreporter.write_line(line)
