"""The recognizability task: closed-form perturbations of linear models, the judge, shared starts, PNGs."""
from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from bench.api import DatasetSplits, TaskInput, TrainConfig
from bench.data.digits import Digits
from bench.errors import UsageError
from bench.testing.recording import RecordingRegistry
from bench.testing.tiny import TinyLinear
from robarena_recognizability.tasks import judge as judge_module
from robarena_recognizability.tasks.recognizability import (Recognizability, RecognizabilityConfig, grid_png,
                                                            shared_starts, start_and_class_correlation)

CPU = torch.device("cpu")


def decode_png(data: bytes) -> torch.Tensor:
    """(3, H, W) uint8 pixels of PNG bytes, decoded by Pillow."""
    from io import BytesIO

    import numpy as np
    from PIL import Image

    return torch.from_numpy(np.array(Image.open(BytesIO(data)).convert("RGB"))).permute(2, 0, 1)


def splits(shape=(1, 4, 4), num_classes=3, n=30, seed=0) -> DatasetSplits:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=gen)
    y = torch.arange(n) % num_classes
    return DatasetSplits(x, y, x.clone(), y.clone(), num_classes, fingerprint=f"synthetic-{seed}")


def block_linear(shape=(1, 4, 4), num_classes=3) -> TinyLinear:
    """Class k's weight is +1 on its own block of pixels and -1 elsewhere: every class is reachable."""
    model = TinyLinear(shape, num_classes).eval()
    d = model.head.weight.shape[1]
    with torch.no_grad():
        model.head.weight.fill_(-1.0)
        for k, block in enumerate(torch.arange(d).chunk(num_classes)):
            model.head.weight[k, block] = 1.0
        model.head.bias.zero_()
    return model


def flat_linear(seed: int, shape=(1, 4, 4), num_classes=3) -> TinyLinear:
    """Zero weights and random biases: the input gradient is 0, so every step leaves the start where it is."""
    model = TinyLinear(shape, num_classes, seed=seed).eval()
    with torch.no_grad():
        model.head.weight.zero_()
    return model


def run_task(model: nn.Module, data: DatasetSplits, seed: int = 0, **config) -> object:
    return Recognizability(RecognizabilityConfig(**config), seed=seed)(model, TaskInput(data=data, device=CPU))


def test_defaults_are_p3s():
    cfg = RecognizabilityConfig()
    assert cfg.steps == 2048 and cfg.step_size == pytest.approx(2 / 255)  # P3 Sec. 4.1
    assert cfg.starts == 10 and cfg.classes is None
    assert cfg.judge == "train" and cfg.judge_model == "classics/small-cnn"
    assert cfg.judge_defense == "classics/standard" and cfg.judge_seed == 1000
    assert cfg.judge_train == TrainConfig() and cfg.judge_checkpoint is None
    assert RecognizabilityConfig(step_size="1/255").step_size == pytest.approx(1 / 255)


def test_the_attack_comes_from_the_registry_as_declared():
    task = Recognizability(RecognizabilityConfig(steps=3, starts=1, judge="self"))
    deps = {d.name: d for d in task.dependencies()}
    assert deps["attack"].components == {"attack": ("attack", "classics/pgd-unbounded")}
    assert deps["attack"].settings["params"] == {"steps": 3, "step_size": 2 / 255, "start": "input",
                                                 "early_stop": False}
    inputs = TaskInput(data=splits(), device=CPU, registry=RecordingRegistry())
    task(block_linear(), inputs)
    assert inputs.registry.asked == [deps["attack"].components["attack"]]
    with pytest.raises(ValidationError, match="steps must be >= 1"):
        RecognizabilityConfig(steps=0)


def test_two_class_linear_model_reaches_the_box_corner_of_the_class_direction():
    # With two classes the targeted CE gradient is (1 - p_t)(w_t - w_o): every signed step moves along
    # sign(w_t - w_o), so the projection on w_t - w_o increases and, after 128 steps of 2/255 (enough
    # to cross the box), the image is the corner 1[w_t > w_o].
    model = TinyLinear((1, 4, 4), 2, seed=5).eval()
    data = splits(num_classes=2)
    result = run_task(model, data, steps=128, starts=3, judge="self")
    x_adv = torch.as_tensor(result.artifacts["x_adv"]).flatten(1)
    target = torch.as_tensor(result.artifacts["target"])
    starts = shared_starts(3, data.shape, torch.Generator().manual_seed(0)).flatten(1).repeat_interleave(2, dim=0)
    w = model.head.weight.detach()
    direction = w[target] - w[1 - target]
    assert bool(((x_adv - starts) * direction).sum(dim=1).gt(0).all())
    corner = (direction > 0).float()
    assert torch.equal(x_adv, corner)
    # every perturbation toward t is the same corner and the two corners are complements:
    # same-class correlation 1, cross-class -1
    assert result.metrics["class_consistency"] == pytest.approx(2.0)
    # short runs already move along the class direction
    short = torch.as_tensor(run_task(model, data, steps=3, starts=3, judge="self").artifacts["x_adv"]).flatten(1)
    gain = ((short - starts) * direction).sum(dim=1)
    assert bool(gain.gt(0).all())


def test_proxy_is_one_when_the_judge_is_the_attacked_model_and_every_attack_succeeds():
    model = block_linear()
    result = run_task(model, splits(), steps=200, starts=4, judge="self")
    assert result.metrics["target_success"] == 1.0
    assert result.metrics["judge_target_rate"] == 1.0
    assert result.metrics["rms_change"] > 0


def test_starts_are_shared_across_models_and_change_with_the_seed():
    data = splits()
    a = run_task(flat_linear(0), data, steps=2, starts=2, judge="self")
    b = run_task(flat_linear(9), data, steps=2, starts=2, judge="self")
    c = run_task(flat_linear(0), data, seed=1, steps=2, starts=2, judge="self")
    assert a.artifacts["starts"] == b.artifacts["starts"] != c.artifacts["starts"]
    # zero input gradients: every column of a row is that row's start, identical for both models
    assert (a.artifacts["x_adv"] == b.artifacts["x_adv"]).all()
    expected = shared_starts(2, data.shape, torch.Generator().manual_seed(0))
    assert torch.equal(torch.as_tensor(a.artifacts["x_adv"]), expected.repeat_interleave(3, dim=0))


def test_correlations_of_unmoved_starts_and_against_a_plain_loop():
    data = splits()
    unmoved = run_task(flat_linear(0), data, steps=2, starts=3, judge="self").metrics
    assert unmoved["start_correlation"] == pytest.approx(1.0)
    assert unmoved["class_consistency"] == pytest.approx(0.0, abs=1e-12)
    gen = torch.Generator().manual_seed(3)
    starts, x_adv = torch.rand(3, 1, 4, 4, generator=gen), torch.rand(12, 1, 4, 4, generator=gen)

    def corr(a, b):
        return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]).double())[0, 1])

    start_corr = sum(corr(x_adv[i], starts[i // 4]) for i in range(12)) / 12
    same, other = [], []
    for i in range(12):
        for j in range(12):
            if i // 4 != j // 4:
                (same if i % 4 == j % 4 else other).append(corr(x_adv[i], x_adv[j]))
    got = start_and_class_correlation(x_adv, starts)
    assert got[0] == pytest.approx(start_corr) and got[1] == pytest.approx(sum(same) / len(same) - sum(other) / len(other))
    assert start_and_class_correlation(x_adv[:4], starts[:1])[1] != start_and_class_correlation(x_adv[:4], starts[:1])[1]


def test_png_grid_has_rows_of_starts_and_columns_of_targets():
    result = run_task(block_linear(), splits(), steps=2, starts=4, judge="self", scale=3, padding=1, classes=[0, 2])
    grid = decode_png(result.artifacts["grid"])
    cell = 4 * 3 + 1  # image side * scale + padding
    assert tuple(grid.shape) == (3, 4 * cell + 1, 2 * cell + 1)
    starts = decode_png(result.artifacts["starts"])
    assert tuple(starts.shape) == (3, 4 * cell + 1, cell + 1)
    assert list(result.artifacts["target"]) == [0, 2] * 4
    # the PNG holds the images: the first cell is x_adv[0] upscaled, quantized to 8 bits
    x0 = torch.as_tensor(result.artifacts["x_adv"][0, 0])
    first = grid[0, 1:1 + 12, 1:1 + 12].float() / 255
    assert torch.allclose(first, x0.repeat_interleave(3, 0).repeat_interleave(3, 1), atol=0.5 / 255 + 1e-6)


def test_grid_png_of_known_pixels():
    images = torch.zeros(2, 1, 2, 2)
    images[1] = 1.0
    png = decode_png(grid_png(images, nrow=2, padding=0))
    assert png.shape == (3, 2, 4)
    assert png[:, :, :2].eq(0).all() and png[:, :, 2:].eq(255).all()


def test_trained_judge_is_cached_by_dataset_and_settings():
    judge_module.clear_cache()
    data = Digits(Digits.Config(n_train=200, n_test=50))()
    settings = dict(model="classics/linear", model_params={}, defense="classics/standard", seed=1000,
                    train=TrainConfig(epochs=10, batch_size=50, lr=0.1), checkpoint=None)
    first = judge_module.get_judge(data, CPU, **settings)
    assert judge_module.get_judge(data, CPU, **settings) is first
    other = judge_module.get_judge(data, CPU, **{**settings, "seed": 1001})
    assert other is not first and not first.training
    with torch.no_grad():
        accuracy = (first(data.x_test).argmax(1) == data.y_test).float().mean()
    assert accuracy > 0.5  # a competent judge, not chance (0.1)
    result = run_task(block_linear((1, 8, 8), 10), data, steps=1, starts=1, judge_model="classics/linear",
                      judge_train=TrainConfig(epochs=10, batch_size=50, lr=0.1))
    assert result.metrics["judge_clean_accuracy"] == pytest.approx(float(accuracy))
    judge_module.clear_cache()


def test_checkpoint_judge_loads_weights(tmp_path):
    from safetensors.torch import save_file

    data = Digits(Digits.Config(n_train=20, n_test=40))()
    reference = TinyLinear((1, 8, 8), 10, seed=7)
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(tmp_path / "judge.safetensors"))
    result = run_task(block_linear((1, 8, 8), 10), data, steps=1, starts=1, judge="checkpoint",
                      judge_model="classics/linear", judge_checkpoint=str(tmp_path / "judge.safetensors"))
    with torch.no_grad():
        expected = (reference(data.x_test).argmax(1) == data.y_test).float().mean()
    assert result.metrics["judge_clean_accuracy"] == pytest.approx(float(expected))
    judge_module.clear_cache()


def test_bad_configs_are_clear_errors():
    with pytest.raises(ValidationError, match="judge_checkpoint"):
        RecognizabilityConfig(judge="checkpoint")
    with pytest.raises(ValidationError, match="only read with judge = 'checkpoint'"):
        RecognizabilityConfig(judge_checkpoint="x.safetensors")
    with pytest.raises(ValidationError, match="distinct"):
        RecognizabilityConfig(classes=[1, 1])
    with pytest.raises(UsageError, match=r"classes \[5\] are not in 0..2"):
        run_task(block_linear(), splits(), steps=1, starts=1, judge="self", classes=[0, 5])
