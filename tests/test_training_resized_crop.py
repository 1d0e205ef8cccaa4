"""The "resized_crop" training augmentation (P1 D.1's Tiny-ImageNet crops): torchvision's
RandomResizedCrop per image, drawn from the defense's generator."""
from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torchvision.transforms import RandomResizedCrop

from bench.api import TrainConfig
from bench.api.training import augment, resized_crop


def batch(n: int = 6, size: int = 12) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_defaults_are_torchvisions_and_leave_old_training_keys_alone():
    train = TrainConfig()
    assert train.resized_crop_scale == (0.08, 1.0) and train.resized_crop_ratio == pytest.approx((3 / 4, 4 / 3))
    t = RandomResizedCrop(8)
    assert (tuple(t.scale), tuple(t.ratio)) == (train.resized_crop_scale, pytest.approx(train.resized_crop_ratio))
    assert "resized_crop_scale" not in train.key_dict() and "resized_crop_ratio" not in train.key_dict()
    assert TrainConfig(resized_crop_scale=(0.5, 1.0)).key_dict()["resized_crop_scale"] == [0.5, 1.0]


def test_equals_torchvision_random_resized_crop_seeded_from_the_generator():
    x = batch()
    train = TrainConfig(augment=["resized_crop"], resized_crop_scale=(0.2, 0.9), resized_crop_ratio=(0.5, 2.0))
    g = torch.Generator().manual_seed(7)
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=g.clone_state()).item())
    out = augment(x, train, g)
    torch.manual_seed(seed)
    t = RandomResizedCrop(12, scale=(0.2, 0.9), ratio=(0.5, 2.0), antialias=True)
    expected = torch.stack([t(img) for img in x]).clamp(0.0, 1.0)
    assert torch.allclose(out, expected, atol=1e-6)
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_draws_only_from_the_generator():
    x = batch()
    train = TrainConfig(augment=["resized_crop"])
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = resized_crop(x, train, torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), before)  # the global generator is untouched
    torch.manual_seed(999)
    assert torch.equal(resized_crop(x, train, torch.Generator().manual_seed(3)), a)
    assert not torch.equal(resized_crop(x, train, torch.Generator().manual_seed(4)), a)


def test_full_scale_square_crop_is_the_identity_and_values_stay_in_the_box():
    x = batch()
    same = TrainConfig(augment=["resized_crop"], resized_crop_scale=(1.0, 1.0), resized_crop_ratio=(1.0, 1.0))
    assert torch.allclose(resized_crop(x, same, torch.Generator().manual_seed(0)), x, atol=1e-6)
    out = resized_crop(x, TrainConfig(augment=["resized_crop"]), torch.Generator().manual_seed(0))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("changes", [dict(resized_crop_scale=(0.0, 1.0)), dict(resized_crop_scale=(0.9, 0.5)),
                                     dict(resized_crop_scale=(0.5, 1.5)), dict(resized_crop_ratio=(2.0, 1.0)),
                                     dict(resized_crop_ratio=(0.0, 1.0)), dict(augment=["resize"])])
def test_bad_ranges_are_refused(changes):
    with pytest.raises(ValidationError):
        TrainConfig(**changes)
