"""The declared costs (``robarena run --dry-run``) of the infotransfer probes and tasks, pinned against the passes
the code makes (bench.testing.passes.PassCounter) on tiny models and data.

The probes and tasks read ``model.features(x)``, which is not a call of the model itself, so the counter is
attached to the feature extractor ``body`` of :class:`bench.testing.tiny.TinyConv`, which every forward pass
and every feature pass runs (the linear head is left out of both). Copies of the model that a component makes
(the weight-noise copy of the inversion, the fine-tuned copy of the transfer) get their own counter.
"""
from __future__ import annotations

import pytest
import torch

from bench.api import Cost, DatasetSplits, ProbeInput, TaskInput
from bench.testing.passes import PassCounter
from bench.testing.tiny import TinyConv
from robarena_infotransfer.probes.entanglement import Entanglement
from robarena_infotransfer.probes.rep_fisher import RepFisher
from robarena_infotransfer.probes.weight_info import WeightInfoProbe
from robarena_infotransfer.probes.weight_norm import WeightNorm
from robarena_infotransfer.tasks import inversion as inversion_module
from robarena_infotransfer.tasks import transfer as transfer_module
from robarena_infotransfer.tasks.inversion import InversionConfig, InversionTask
from robarena_infotransfer.tasks.transfer import Transfer, TransferConfig

CPU = torch.device("cpu")
SHAPE = (1, 8, 8)
K = 3  # classes
FEATURES = 32  # TinyConv's features: 8 channels x 2 x 2


def model(seed=0) -> TinyConv:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyConv(SHAPE, K).eval()


def splits(n_train=12, n_test=6, seed=0) -> DatasetSplits:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n_train + n_test, *SHAPE, generator=gen)
    y = torch.arange(n_train + n_test) % K
    return DatasetSplits(x[:n_train], y[:n_train], x[n_train:], y[n_train:], K, fingerprint=f"costs-{seed}")


def probe_input(n=10, n_train=12) -> ProbeInput:
    data = splits(n_train, n)
    return ProbeInput(x=data.x_test, y=data.y_test, num_classes=K, device=CPU, x_train=data.x_train,
                      y_train=data.y_train, batch_size=4)


def run_probe(probe, m=None) -> Cost:
    m = m or model()
    with PassCounter(m.body) as counted:
        probe.run(m, probe_input(), torch.Generator().manual_seed(0))
    return counted.cost


def test_entanglement_cost_is_one_feature_pass_per_example():
    for n in (7, 512):
        probe = Entanglement(Entanglement.Config(n=n))
        assert probe.cost(10, 12) == Cost(min(n, 10), 0)
        assert run_probe(probe) == probe.cost(10, 12)


def test_weight_norm_makes_no_pass():
    probe = WeightNorm()
    assert probe.cost(10, 12) == Cost() == run_probe(probe)


def test_rep_fisher_cost_is_a_forward_and_a_backward_per_feature_and_unknown_without_the_feature_size():
    probe = RepFisher(RepFisher.Config(n=5, batch_size=2))
    declared = probe.cost(10, 12, feature_dim=FEATURES)
    assert declared == Cost(1, FEATURES) * 5
    assert run_probe(probe) == declared
    assert probe.cost(10, 12) is None


@pytest.mark.parametrize("fisher, split", [("true", "train"), ("empirical", "test")])
def test_weight_info_cost_is_the_diagonal_fishers(fisher, split):
    probe = WeightInfoProbe(WeightInfoProbe.Config(fisher=fisher, split=split, n=8, batch_size=1))
    m = model()
    with PassCounter(m) as counted:  # the Fisher calls the model itself (functional_call)
        probe.run(m, probe_input(), torch.Generator().manual_seed(0))
    used = 8  # min(n, n_train = 12) or min(n, n = 10)
    labels = K if fisher == "true" else 1
    declared = probe.cost(10, 12, num_classes=K)
    assert declared == (Cost(1, 0) + Cost.steps(labels)) * used
    # batch_size 1: each vectorised per-example gradient is counted once per example, as the cost counts it
    assert counted.cost == declared
    assert (probe.cost(10, 12) is None) == (fisher == "true")
    # larger vectorised chunks: the same cost; the counter sees one pass per chunk, fewer than declared
    chunked = WeightInfoProbe(WeightInfoProbe.Config(fisher=fisher, split=split, n=8, batch_size=4))
    assert chunked.cost(10, 12, num_classes=K) == declared
    with PassCounter(m) as counted:
        chunked.run(m, probe_input(), torch.Generator().manual_seed(0))
    assert counted.cost.forward < declared.forward and counted.cost.backward < declared.backward


def counted_copies(monkeypatch, module, name: str) -> list[PassCounter]:
    """Attach a counter to the ``body`` of every copy ``module.name`` returns."""
    counters: list[PassCounter] = []
    make = getattr(module, name)

    def counted(*args, **kwargs):
        copy = make(*args, **kwargs)
        counters.append(PassCounter(copy.body))
        return copy

    monkeypatch.setattr(module, name, counted)
    return counters


@pytest.mark.parametrize("variants", [dict(noise_once=False, effective_images=False),
                                      dict(noise_once=True, effective_images=False),
                                      dict(noise_once=True, effective_images=True, fisher="empirical")])
def test_inversion_cost(monkeypatch, variants):
    copies = counted_copies(monkeypatch, inversion_module, "perturbed_copy")
    task = InversionTask(InversionConfig(n_images=2, steps=3, fisher_examples=5, fisher_batch_size=1, **variants))
    cfg = task.config
    m = model()
    with PassCounter(m.body) as counted:
        task.run(m, TaskInput(data=splits(), device=CPU), torch.Generator().manual_seed(0))
    noisy = cfg.noise_once or cfg.effective_images
    assert len(copies) == int(noisy)
    total = counted.cost + sum((c.cost for c in copies), Cost())
    declared = task.cost(6, 12, num_classes=K)
    inversion = Cost(cfg.steps + 1, cfg.steps)
    expected = (Cost(1, 0) + inversion) * 2
    if noisy:
        labels = K if cfg.fisher == "true" else 1
        expected = expected + (Cost(1, 0) + Cost.steps(labels)) * 5 + Cost(2, 0)
        expected = expected + (inversion + Cost(1, 0)) * 2 * cfg.noise_once + inversion * 2 * cfg.effective_images
    assert declared == expected
    assert total == declared
    assert (task.cost(6, 12) is None) == (noisy and cfg.fisher == "true")


def target_splits(seed: int) -> DatasetSplits:
    return splits(n_train=15, n_test=10, seed=seed)


def transfer_inputs(source: DatasetSplits) -> TaskInput:
    return TaskInput(data=source, device=CPU, load_dataset=lambda ident, params: target_splits(len(ident)))


@pytest.mark.parametrize("head", ["linear", "finetune-all"])
def test_transfer_cost(monkeypatch, head):
    copies = counted_copies(monkeypatch, transfer_module, "copy_source")
    config = dict(targets=[{"id": "a/one", "label": "one"}, {"id": "a/three", "label": "three"}], n_train=12,
                  n_test=8, max_iter=50, distance_n=10, attack_steps=2, robust_n=5, batch_size=4, head=head,
                  finetune_epochs=2, finetune_batch_size=4)
    task = Transfer(TransferConfig(**config), seed=0)
    cfg = task.config
    source = splits(n_train=12, n_test=6)
    n = source.x_test.shape[0]
    declared = task.cost(n, 12)
    per_target = Cost(12 + 8, 0) + (Cost(cfg.attack_steps + 1, cfg.attack_steps) + Cost(2, 0)) * 5
    if head != "linear":
        per_target = per_target + Cost.steps(2 * 12) + Cost(8, 0)
    assert declared == Cost(n, 0) + per_target * 2
    m = model()
    with PassCounter(m.body) as counted:
        task.run(m, transfer_inputs(source), torch.Generator().manual_seed(0))
    total = counted.cost + sum((c.cost for c in copies), Cost())
    assert len(copies) == (0 if head == "linear" else 2)
    assert total.forward <= declared.forward and total.backward <= declared.backward  # the PGD stops early
    # without the early stop the PGD's passes are all made: exactly the declared cost
    attack_params = Transfer.attack_params
    monkeypatch.setattr(Transfer, "attack_params", lambda self: {**attack_params(self), "early_stop": False})
    copies.clear()
    with PassCounter(m.body) as counted:
        task.run(m, transfer_inputs(source), torch.Generator().manual_seed(0))
    assert counted.cost + sum((c.cost for c in copies), Cost()) == declared


def test_transfer_cost_needs_the_target_sizes():
    task = Transfer(TransferConfig(attack_steps=2, robust_n=5))
    assert task.cost(6, 12) is None  # the targets' split sizes are not known without loading them
    sized = task.cost(6, 12, target_sizes=[(15, 10), (30, 4)])
    attacked = Cost(3, 2) + Cost(2, 0)
    assert sized == Cost(6, 0) + Cost(25, 0) + attacked * 5 + Cost(34, 0) + attacked * 4
    # the dry run passes dataset_sizes(id, params): the sizes of the loaded (or declared) target datasets
    seen = []

    def sizes(ident, params):
        seen.append((ident, params))
        return {0: (15, 10), 1: (30, 4)}[len(seen) - 1]

    assert task.cost(6, 12, dataset_sizes=sizes) == sized
    assert seen == [(t.id, dict(t.params)) for t in task.config.targets]
    assert task.cost(6, 12, dataset_sizes=lambda ident, params: None) is None  # one target of unknown size
