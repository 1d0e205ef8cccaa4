"""``bench.api.training.augment`` against torchvision's RandomCrop(padding) + RandomHorizontalFlip semantics.

torchvision (v2): zero-pad p pixels on each side, take a window of the original size at a
uniform offset in {0..2p} x {0..2p}, then flip horizontally with probability 1/2.
"""
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from bench.api.training import augment
from bench.config import TrainConfig

P = 4


def candidates(img: torch.Tensor, pad: int) -> dict[tuple[int, int, bool], torch.Tensor]:
    """Every output torchvision's pipeline can produce, built with torchvision's functional ops."""
    h, w = img.shape[-2:]
    padded = F.pad(img, [pad, pad, pad, pad], fill=0)
    out = {}
    for top in range(2 * pad + 1):
        for left in range(2 * pad + 1):
            crop = F.crop(padded, top, left, h, w)
            out[(top, left, False)] = crop
            out[(top, left, True)] = F.horizontal_flip(crop)
    return out


def identify(out: torch.Tensor, cands: dict) -> tuple[int, int, bool]:
    hits = [k for k, c in cands.items() if torch.equal(out, c)]
    assert len(hits) == 1, "augment produced an image that is not a padded crop (or its flip)"
    return hits[0]


@pytest.fixture(scope="module")
def image():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 10, 12, generator=g) * 0.9 + 0.1  # no zeros, so padding is recognisable


def test_every_output_is_a_zero_padded_crop_or_its_flip_uniformly_drawn(image):
    n = 3000
    cands = candidates(image, P)
    out = augment(image.expand(n, -1, -1, -1).clone(), TrainConfig(augment=["crop", "flip"], crop_padding=P),
                  torch.Generator().manual_seed(1))
    assert out.shape == (n, 3, 10, 12)
    keys = [identify(o, cands) for o in out]
    tops = torch.bincount(torch.tensor([k[0] for k in keys]), minlength=2 * P + 1).double()
    lefts = torch.bincount(torch.tensor([k[1] for k in keys]), minlength=2 * P + 1).double()
    flips = sum(k[2] for k in keys)
    expected = n / (2 * P + 1)
    for counts in (tops, lefts):  # chi-square with 8 dof: 99.99 % quantile is about 33.7
        assert len(counts) == 2 * P + 1 and float(((counts - expected) ** 2 / expected).sum()) < 33.7
    assert abs(flips - n / 2) < 4 * (n * 0.25) ** 0.5
    assert len(set(keys)) == len(cands)  # the whole support is reached


def test_support_equals_torchvisions_pipeline(image):
    tv = v2.Compose([v2.RandomCrop((10, 12), padding=P), v2.RandomHorizontalFlip(0.5)])
    cands = candidates(image, P)
    torch.manual_seed(0)
    tv_keys = {identify(tv(image), cands) for _ in range(3000)}
    ours = augment(image.expand(3000, -1, -1, -1).clone(), TrainConfig(augment=["crop", "flip"], crop_padding=P),
                   torch.Generator().manual_seed(2))
    assert {identify(o, cands) for o in ours} == tv_keys == set(cands)


def test_flip_only_and_padding_zero(image):
    x = image.expand(200, -1, -1, -1).clone()
    out = augment(x, TrainConfig(augment=["flip"]), torch.Generator().manual_seed(0))
    same = torch.tensor([torch.equal(o, image) for o in out])
    flipped = torch.tensor([torch.equal(o, image.flip(-1)) for o in out])
    assert bool((same | flipped).all()) and 60 < int(flipped.sum()) < 140
    crop0 = augment(x, TrainConfig(augment=["crop"], crop_padding=0), torch.Generator().manual_seed(0))
    assert torch.equal(crop0, x)


def test_draws_come_only_from_the_given_generator(image):
    x = image.expand(50, -1, -1, -1).clone()
    cfg = TrainConfig(augment=["crop", "flip"], crop_padding=P)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = augment(x, cfg, torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a, augment(x, cfg, torch.Generator().manual_seed(5)))
    assert not torch.equal(a, augment(x, cfg, torch.Generator().manual_seed(6)))
