"""Linear-probe transfer: the head, the EMD, the task on hand-made data, and the task through the runner."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance
from torch import nn

import bench
from bench.api import Classifier, DatasetSplits, TaskInput
from bench.errors import UsageError
from bench.testing.recording import RecordingRegistry
from robarena_infotransfer.tasks.transfer import Transfer, TransferConfig, reshape_images
from robarena_infotransfer.tasks.transfer_emd import emd, sample_emd
from robarena_infotransfer.tasks.transfer_head import fit_linear_head

CPU = torch.device("cpu")


def separable(n_per: int, seed: int, k: int = 3, dim: int = 5, margin: float = 6.0):
    """Gaussian classes whose means lie ``margin`` apart along coordinate axes: linearly separable in practice."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(k).repeat_interleave(n_per)
    means = torch.zeros(k, dim)
    means[torch.arange(k), torch.arange(k)] = margin
    return means[y] + 0.5 * torch.randn(k * n_per, dim, generator=gen), y


def test_linear_probe_on_linearly_separable_features_reaches_100_percent():
    z_train, y_train = separable(40, seed=0)
    z_test, y_test = separable(40, seed=1)
    head = fit_linear_head(z_train, y_train, num_classes=3)
    with torch.no_grad():
        assert float((head(z_train).argmax(1) == y_train).double().mean()) == 1.0
        assert float((head(z_test).argmax(1) == y_test).double().mean()) == 1.0


def test_head_fit_is_deterministic_and_handles_absent_classes_and_two_classes():
    z, y = separable(30, seed=2)
    a, b = fit_linear_head(z, y, 3), fit_linear_head(z, y, 3)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    keep = y != 1  # class 1 absent from the training data: never predicted
    head = fit_linear_head(z[keep], y[keep], 3)
    with torch.no_grad():
        assert not bool((head(z).argmax(1) == 1).any())
    two = fit_linear_head(z[keep], (y[keep] == 2).long(), 2)  # binary: sklearn's single row, expanded to two
    with torch.no_grad():
        assert float((two(z[keep]).argmax(1) == (y[keep] == 2).long()).double().mean()) == 1.0
    with pytest.raises(UsageError, match="needs >= 2"):
        fit_linear_head(z[:5], torch.zeros(5, dtype=torch.long), 3)


def test_emd_of_a_sample_to_itself_is_zero_and_to_a_translate_is_the_shift():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(60, 4, generator=gen)
    assert emd(a, a[torch.randperm(60, generator=gen)]) == pytest.approx(0.0, abs=1e-12)
    shift = torch.tensor([3.0, -4.0, 0.0, 0.0])  # ||shift|| = 5: W1 of a translate is the shift's length
    assert emd(a, a + shift) == pytest.approx(5.0, rel=1e-9)


def test_emd_in_one_dimension_equals_scipys_wasserstein_distance():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=80), rng.normal(1.5, 2.0, size=80)
    ours = emd(torch.from_numpy(a)[:, None], torch.from_numpy(b)[:, None])
    assert ours == pytest.approx(wasserstein_distance(a, b), rel=1e-9)


def test_sample_emd_is_deterministic_for_a_generator_and_caps_the_size():
    a, b = torch.randn(30, 3), torch.randn(20, 3) + 1.0
    d1, m1 = sample_emd(a, b, 100, torch.Generator().manual_seed(0))
    d2, m2 = sample_emd(a, b, 100, torch.Generator().manual_seed(0))
    assert (d1, m1) == (d2, m2) and m1 == 20


class PixelFeatures(Classifier):
    """features(x) = the flattened image (D = C * H * W), with a linear head: a transparent source model."""

    def __init__(self, input_shape=(1, 2, 2), num_classes=3):
        super().__init__(input_shape, num_classes)
        self.head = nn.Linear(math.prod(input_shape), num_classes)

    def extract(self, z):
        return z.flatten(1)


def image_splits(n_per: int, seed: int, k: int = 3, shape=(1, 2, 2)) -> DatasetSplits:
    """Images whose pixel (class) is bright: linearly separable in pixel space."""
    def make(s):
        gen = torch.Generator().manual_seed(s)
        y = torch.arange(k).repeat_interleave(n_per)
        x = 0.1 * torch.rand(k * n_per, math.prod(shape), generator=gen)
        x[torch.arange(len(y)), y] += 0.8
        return x.view(-1, *shape), y
    xt, yt = make(seed)
    xs, ys = make(seed + 1)
    return DatasetSplits(xt, yt, xs, ys, k)


def task_input(source: DatasetSplits, targets: dict) -> TaskInput:
    def load(ident, params):
        return targets[(ident, tuple(sorted(params.items())))]
    return TaskInput(data=source, device=CPU, load_dataset=load)


def test_task_on_a_transparent_model_reports_full_accuracy_distance_and_robustness():
    source = image_splits(20, seed=0)
    near = image_splits(20, seed=10)
    cfg = TransferConfig(targets=[{"id": "x/near", "label": "near"}, {"id": "x/same"}], eps=0.05, robust_n=30)
    inputs = task_input(source, {("x/near", ()): near, ("x/same", ()): source})
    result = Transfer(cfg, seed=0)(PixelFeatures(), inputs)
    assert set(result.metrics) == {f"{t}.{m}" for t in ("near", "same") for m in ("accuracy", "distance",
                                                                                 "robust_accuracy", "class_emd")}
    assert result.metrics["same.class_emd"] == pytest.approx(0.0, abs=1e-9)  # the same class means and shares
    assert result.metrics["near.accuracy"] == 1.0 and result.metrics["same.accuracy"] == 1.0
    # the source's own test split against itself: one sample of each, both the whole split -> EMD 0
    assert result.metrics["same.distance"] == pytest.approx(0.0, abs=1e-9)
    assert result.metrics["near.distance"] > 0
    # eps 0.05 in L2 cannot cross a margin of ~0.7 between the bright pixel and the others
    assert result.metrics["near.robust_accuracy"] == 1.0
    again = Transfer(cfg, seed=0)(PixelFeatures(), inputs)
    assert again.metrics == result.metrics


def test_a_large_attack_breaks_the_transferred_model():
    source = image_splits(20, seed=0)
    cfg = TransferConfig(targets=[{"id": "x/t", "label": "t"}], eps=2.0, attack_steps=20, robust_n=30)
    out = Transfer(cfg, seed=0)(PixelFeatures(), task_input(source, {("x/t", ()): image_splits(20, seed=5)}))
    assert out.metrics["t.accuracy"] == 1.0 and out.metrics["t.robust_accuracy"] < 0.2


def test_shape_mismatch_is_a_clear_error_unless_match_shape():
    source = image_splits(10, seed=0, shape=(1, 2, 2))
    big = image_splits(10, seed=3, shape=(3, 4, 4))
    inputs = task_input(source, {("x/big", ()): big})
    with pytest.raises(UsageError, match=r"shape \(3, 4, 4\).*reads \(1, 2, 2\).*match_shape"):
        Transfer(TransferConfig(targets=[{"id": "x/big"}]))(PixelFeatures(), inputs)
    out = Transfer(TransferConfig(targets=[{"id": "x/big"}], match_shape=True, eps=0.01))(PixelFeatures(), inputs)
    assert 0.0 <= out.metrics["big.accuracy"] <= 1.0
    grey = reshape_images(torch.full((2, 3, 4, 4), 0.5), (1, 2, 2))
    assert grey.shape == (2, 1, 2, 2) and torch.allclose(grey, torch.full_like(grey, 0.5))
    rgb = reshape_images(torch.rand(2, 1, 2, 2), (3, 2, 2))
    assert torch.equal(rgb[:, 0], rgb[:, 2])


def test_config_defaults_and_label_rules():
    cfg = TransferConfig()
    assert [(t.id, t.params, t.name) for t in cfg.targets] == [
        ("core/gratings32-shifted", {"shift": 0.25}, "near"), ("core/digits32", {}, "far")]
    assert (cfg.norm, cfg.eps) == ("L2", 1.0)  # P2's CIFAR radius
    assert TransferConfig(eps="8/255").eps == pytest.approx(8 / 255)
    with pytest.raises(ValueError, match="distinct label"):
        TransferConfig(targets=[{"id": "core/digits32"}, {"id": "other/digits32"}])
    with pytest.raises(ValueError, match="label"):
        TransferConfig(targets=[{"id": "core/digits32", "label": "a/b"}])


def test_the_attack_comes_from_the_registry_and_is_a_declared_dependency():
    cfg = TransferConfig(targets=[{"id": "x/t", "label": "t"}], eps=0.05, attack_steps=3, robust_n=4)
    task = Transfer(cfg, seed=0)
    [dep] = task.dependencies()
    assert dep.name == "attack" and dep.components == {"attack": ("attack", "classics/pgd")}
    assert dep.settings == {"params": {"steps": 3, "step_size": None, "random_start": True, "restarts": 1,
                                       "loss": "ce"}}
    source = image_splits(10, seed=0)
    inputs = task_input(source, {("x/t", ()): image_splits(10, seed=5)})
    inputs.registry = RecordingRegistry()
    task(PixelFeatures(), inputs)
    assert inputs.registry.asked == [dep.components["attack"]]


def test_radius_and_steps_are_checked():
    for bad, reason in ((dict(eps=0), "allows no perturbation"), (dict(norm="Linf", eps=2.0), "exceeds the width"),
                        (dict(attack_steps=0), "steps must be >= 1")):
        with pytest.raises(ValueError, match=reason):
            TransferConfig(**bad)


def tiny_runner_suite():
    return {
        "name": "p2-tiny",
        "datasets": [{"id": "core/gratings32", "params": {"n_train": 96, "n_test": 32}}],
        "models": [{"id": "classics/resnet-cifar", "params": {"depth": 8}}],
        "defenses": [{"id": "classics/standard", "label": "standard"}],
        "probes": [{"id": "infotransfer/rep-fisher", "params": {"n": 4}}, {"id": "infotransfer/weight-norm"},
                   {"id": "infotransfer/entanglement"}],
        "tasks": [{"id": "infotransfer/transfer", "params": {
            "targets": [{"id": "core/gratings32-shifted", "params": {"n_train": 64, "n_test": 32}, "label": "near"},
                        {"id": "core/digits32", "params": {"n_train": 64, "n_test": 32}, "label": "far"}],
            "robust_n": 8, "attack_steps": 2}}],
        "train": {"epochs": 1, "batch_size": 32},
        "eval": {"n": 32, "batch_size": 32},
    }


def test_runner_produces_the_task_and_probe_columns(tmp_path):
    res = bench.run(tiny_runner_suite(), workdir=tmp_path, progress=False)
    assert res.ok, [r.errors for r in res.rows]
    frame = res.to_pandas()
    for target in ("near", "far"):
        for metric in ("accuracy", "distance", "robust_accuracy"):
            column = f"task[transfer.{target}.{metric}]"
            assert column in frame.columns and not math.isnan(frame[column].iloc[0])
    for column in ("probe[rep-fisher.iso_trace_mean]", "probe[rep-fisher.iso_logdet_mean]",
                   "probe[weight-norm.weight_norm]", "probe[entanglement.snn_loss]"):
        assert column in frame.columns and not math.isnan(frame[column].iloc[0])
    again = bench.run(tiny_runner_suite(), workdir=tmp_path, progress=False)
    assert again.computed == 0  # the task's cache key covers its targets: an unchanged suite recomputes nothing
