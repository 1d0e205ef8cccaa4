"""The inversion task (P2 Eq. 3, effective noise once, Eq. 10): known answers, determinism, artifacts, runner."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.numpy import load as load_arrays

import bench
from bench.api import TaskInput
from bench.api.data import DatasetSplits
from bench.testing.tiny import TinyConv, TinyLinear, tiny_batch
from robarena_infotransfer.images import PADDING
from robarena_infotransfer.specs_inversion import INVERSION_METRICS
from robarena_infotransfer.tasks.inversion import METRICS, InversionConfig, InversionTask

CPU = torch.device("cpu")


def splits(n_train=32, n_test=6, seed=0) -> DatasetSplits:
    x_train, y_train = tiny_batch((1, 8, 8), n=n_train, seed=seed)
    x_test, y_test = tiny_batch((1, 8, 8), n=n_test, seed=seed + 1)
    return DatasetSplits(x_train, y_train, 0.1 + 0.8 * x_test, y_test, num_classes=10)


def run(model, config: InversionConfig, seed=0, data=None):
    return InversionTask(config, seed=seed)(model, TaskInput(data=data or splits(), device=CPU))


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_identity_features_are_recovered_and_weight_noise_cannot_change_them():
    # TinyLinear's features are the flattened input: inversion must return the test images, and
    # noise on the weights (the head only) leaves f_{w+n} = f_w, so all three variants agree.
    data = splits()
    result = run(TinyLinear((1, 8, 8), 10), InversionConfig(n_images=4, steps=300, step_size=0.02,
                                                            fisher_examples=16, beta=1e-2, prior_std=0.5), data=data)
    m = result.metrics
    assert m["psnr"] > 50 and m["ssim"] > 0.9999
    norms = torch.linalg.vector_norm(data.x_test[:4].flatten(1), dim=1)
    assert m["final_loss"] < float((0.02 / norms).max())  # within one step of the target
    assert m["noise_feature_shift"] == 0.0
    for prefix in ("noise_", "effective_"):
        for metric in ("final_loss", "psnr", "ssim", "iters_to_threshold"):
            assert m[prefix + metric] == m[metric]
    # each image's distance to its target shrinks by one step (0.02) per iteration (see the solver
    # test), so the mean relative loss falls linearly, by 0.02 * mean(1 / ||x_i||) per iteration,
    # and reaches 5 % of its start after ceil(0.95 * start / that slope) iterations
    start = float(result.artifacts["loss_curve"][0])
    expected = math.ceil(0.95 * start / (0.02 * float((1 / norms).mean())))
    assert m["iters_to_threshold"] == expected
    assert result.artifacts["loss_curve"].shape == (301,)
    assert start == pytest.approx(float(result.artifacts["noise_loss_curve"][0]))


def test_metrics_artifacts_and_png_layout():
    torch.manual_seed(0)
    model = TinyConv((1, 8, 8), 10).eval()
    result = run(model, InversionConfig(n_images=3, steps=12, step_size=0.1, fisher_examples=8, beta=1e-4,
                                        prior_std=0.05))
    assert list(result.metrics) == list(METRICS) == INVERSION_METRICS
    assert all(math.isfinite(v) for v in result.metrics.values())
    assert result.metrics["noise_feature_shift"] > 0  # the conv weights are perturbed
    for name in ("loss_curve", "noise_loss_curve", "effective_loss_curve"):
        curve = result.artifacts[name]
        assert curve.shape == (13,) and curve[-1] < curve[0]
    png = decode(result.artifacts["inversion.png"])
    scale = 4  # auto: ceil(32 / 8)
    cell = 8 * scale + PADDING
    assert png.shape == (4 * cell + PADDING, 3 * cell + PADDING)  # originals, inversion, noise once, effective
    # the first row holds the originals
    x = splits().x_test[:3]
    top_left = png[PADDING:PADDING + 8 * scale:scale, PADDING:PADDING + 8 * scale:scale]
    assert np.abs(top_left.astype(float) - (x[0, 0] * 255).round().numpy()).max() <= 0.5


def test_variants_can_be_switched_off():
    result = run(TinyConv((1, 8, 8), 10).eval(), InversionConfig(n_images=2, steps=5, step_size=0.1,
                                                                 noise_once=False, effective_images=False, png_scale=2))
    assert math.isfinite(result.metrics["psnr"])
    assert all(math.isnan(v) for k, v in result.metrics.items() if k.startswith(("noise_", "effective_")))
    assert set(result.artifacts) == {"loss_curve", "inversion.png"}
    assert decode(result.artifacts["inversion.png"]).shape == (2 * (16 + PADDING) + PADDING, 2 * (16 + PADDING) + PADDING)


def test_deterministic_for_a_seed():
    torch.manual_seed(1)
    model = TinyConv((1, 8, 8), 10).eval()
    cfg = InversionConfig(n_images=2, steps=8, step_size=0.1, fisher_examples=8, beta=1e-4, prior_std=0.05)
    state = torch.random.get_rng_state()
    a, b, c = run(model, cfg, seed=3), run(model, cfg, seed=3), run(model, cfg, seed=4)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is not used
    assert a.metrics == b.metrics
    assert a.artifacts["inversion.png"] == b.artifacts["inversion.png"]
    assert all(np.array_equal(a.artifacts[k], b.artifacts[k]) for k in a.artifacts if k.endswith("curve"))
    assert a.metrics["noise_feature_shift"] != c.metrics["noise_feature_shift"]  # another seed, another draw
    assert not np.array_equal(a.artifacts["loss_curve"], c.artifacts["loss_curve"])  # and another start


def test_defaults_are_pinned():
    cfg = InversionConfig()
    # P2 Eq. 3 starts from N(0.5, sigma); the rest follows Engstrom et al. 2019's inversion (P2 states none)
    assert (cfg.n_images, cfg.steps, cfg.optimizer, cfg.step_size, cfg.init_std) == (8, 10000, "normalized-gd", 1.0, 0.05)
    assert (cfg.threshold, cfg.beta, cfg.prior_std, cfg.fisher, cfg.fisher_examples) == (0.05, 1e-8, 0.03, "true", 256)
    assert cfg.noise_once and cfg.effective_images


def test_runner_produces_the_task_columns_and_artifacts(tmp_path):
    suite = {
        "name": "p2-inversion-tiny",
        "datasets": [{"id": "core/digits", "params": {"n_train": 200, "n_test": 40}}],
        "models": [{"id": "classics/small-cnn"}],
        "defenses": [{"id": "classics/standard"}],
        "probes": [{"id": "infotransfer/weight-info", "params": {"n": 16}}],
        "tasks": [{"id": "infotransfer/inversion",
                   "params": {"n_images": 3, "steps": 10, "step_size": 0.1, "fisher_examples": 16}}],
        "train": {"epochs": 1, "batch_size": 50, "lr": 0.05},
        "eval": {"n": 40, "batch_size": 40},
    }
    result = bench.run(suite, workdir=tmp_path, device="cpu")
    assert result.ok, result.failures
    (row,) = result.rows
    assert set(row.tasks) == {f"inversion.{m}" for m in INVERSION_METRICS}
    assert all(v is not None for v in row.tasks.values())
    assert {"weight-info.mean_log_variance", "weight-info.information"} <= set(row.probes)
    frame = result.to_pandas()
    assert "task[inversion.psnr]" in frame.columns and "probe[weight-info.information]" in frame.columns
    cache = tmp_path / "cache" / "objects"
    png_digest = row.artifacts["inversion.inversion.png"]
    assert decode((cache / png_digest[:2] / png_digest).read_bytes()).shape[0] == 4 * (32 + PADDING) + PADDING
    curve_digest = row.artifacts["inversion.loss_curve"]
    curve = load_arrays((cache / curve_digest[:2] / curve_digest).read_bytes())["loss_curve"]
    assert curve.shape == (11,)


def test_a_model_without_features_is_a_usage_error():
    from bench.errors import UsageError

    class LogitsOnly(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :10]

    with pytest.raises(UsageError, match="features"):
        run(LogitsOnly(), InversionConfig(n_images=2, steps=2))
