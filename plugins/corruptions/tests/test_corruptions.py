"""The 15 corruptions: determinism, the box, shapes and dtypes, severity monotonicity on real digits,
and each corruption's defining property against a closed form or a reference computation."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from bench.data.digits import Digits
from robarena_corruptions import CORRUPTIONS, DETERMINISTIC, FAMILIES, PARAMS, SEVERITIES, corrupt
from robarena_corruptions import digital, noise, weather
from robarena_corruptions._ops import size_scale



def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def digits8():
    return Digits().load().x_test[:128]


@pytest.fixture(scope="module")
def digits32(digits8):
    return F.interpolate(digits8, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)


@pytest.fixture(scope="module")
def rgb():
    # a smooth colour image (N, 3, 24, 20) in [0, 1]: not square, not a power of two
    t = torch.linspace(0, 1, 24).view(1, 1, 24, 1) * torch.linspace(0, 1, 20).view(1, 1, 1, 20)
    base = torch.cat([t, 1 - t, 0.5 * torch.ones_like(t)], dim=1)
    return (0.8 * base + 0.2 * torch.rand((3, 3, 24, 20), generator=gen(5))).clamp(0, 1)


def test_registry():
    assert len(CORRUPTIONS) == 15 and len(set(CORRUPTIONS)) == 15
    assert [len(v) for v in FAMILIES.values()] == [3, 4, 4, 4]
    assert SEVERITIES == (1, 2, 3, 4, 5)
    assert all(len(PARAMS[n]) == 5 for n in CORRUPTIONS)
    with pytest.raises(ValueError):
        corrupt(torch.zeros(1, 1, 8, 8), "speckle_noise", 1, gen())
    with pytest.raises(ValueError):
        corrupt(torch.zeros(1, 1, 8, 8), "fog", 6, gen())
    with pytest.raises(ValueError):
        corrupt(torch.zeros(1, 2, 8, 8), "fog", 1, gen())


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_box_shape_dtype_and_seed(name, digits8, rgb):
    for x in (digits8[:8], rgb, rgb.double(), torch.rand((2, 3, 64, 48), generator=gen(7))):
        for s in (1, 5):
            y = corrupt(x, name, s, gen(0))
            assert y.shape == x.shape and y.dtype == x.dtype
            assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
            assert torch.equal(y, corrupt(x, name, s, gen(0)))          # same seed, same output
            other = corrupt(x, name, s, gen(1))
            if name in DETERMINISTIC:
                assert torch.equal(y, other)
            else:
                assert not torch.equal(y, other)                        # another seed differs
    assert not corrupt(digits8[:1], name, 1, gen(0)).requires_grad


# corruptions whose mean |corrupt(x) - x| is not monotone by construction of the CIFAR-10-C
# parameters; each has its own monotone quantity tested below (docs/corruptions.md):
#   frost: the image weight falls with the frost weight (0.9 -> 0.85), darkening towards x again;
#   elastic: the affine jitter shrinks (8% -> 3% of the size) while the elastic field grows;
#   pixelate: nearest enlargement from floor(H c) aliases differently per size.
NOT_MONOTONE_IN_L1 = {"frost", "elastic", "pixelate"}


@pytest.mark.parametrize("name", [n for n in CORRUPTIONS if n not in NOT_MONOTONE_IN_L1])
def test_severity_monotone_on_digits(name, digits8, digits32):
    for x in (digits8, digits32):
        d = [float((corrupt(x, name, s, gen(3)) - x).abs().mean()) for s in SEVERITIES]
        for a, b in zip(d, d[1:]):
            assert b >= 0.97 * a - 1e-6, (x.shape[-1], d)
    d32 = [float((corrupt(digits32, name, s, gen(3)) - digits32).abs().mean()) for s in (1, 5)]
    assert d32[1] > 1.2 * d32[0] + 1e-4, d32


def _one_minus_corr(x, y):
    xc = x.flatten(1) - x.flatten(1).mean(1, keepdim=True)
    yc = y.flatten(1) - y.flatten(1).mean(1, keepdim=True)
    return float((1 - (xc * yc).sum(1) / (xc.norm(dim=1) * yc.norm(dim=1))).mean())


def test_frost_decorrelates_with_severity(digits8, digits32):
    for x in (digits8, digits32):
        d = [_one_minus_corr(x, corrupt(x, "frost", s, gen(3))) for s in SEVERITIES]
        assert all(b > a for a, b in zip(d, d[1:])), d
    ratios = [b / a for a, b in weather.FROST]
    assert all(q > p for p, q in zip(ratios, ratios[1:]))


def test_frost_is_the_blend_of_a_texture(digits32):
    # y = a x + b T with T in [0, 1] and mean 0.5 before the clip: recover T where y is not clipped
    a, b = weather.FROST[0]
    y = corrupt(digits32, "frost", 1, gen(0))
    t = (y - a * digits32) / b
    inside = y < 1
    assert float(t[inside].min()) >= -1e-5 and float(t[inside].max()) <= 1 + 1e-5
    tex = weather.frost_texture(4, 32, 32, 1, gen(0))
    assert torch.allclose(tex.mean(dim=(2, 3)), torch.full((4, 1), 0.5), atol=0.02)


# ---- noise -----------------------------------------------------------------------------------

def test_gaussian_noise_variance_matches_sigma():
    x = torch.full((64, 3, 32, 32), 0.5)                                 # far from the box: no clipping
    prev = 0.0
    for s, sigma in zip(SEVERITIES, noise.GAUSSIAN_SIGMA):
        r = corrupt(x, "gaussian_noise", s, gen(s)) - x
        var = float(r.var())
        n = r.numel()
        se = sigma ** 2 * (2 / (n - 1)) ** 0.5                           # std of the sample variance
        assert abs(var - sigma ** 2) < 5 * se, (s, var, sigma ** 2)
        assert abs(float(r.mean())) < 5 * sigma / n ** 0.5
        assert var > prev
        prev = var


def test_shot_noise_is_poisson():
    x = torch.full((32, 1, 32, 32), 0.4)
    for s, rate in zip(SEVERITIES, noise.SHOT_RATE):
        y = corrupt(x, "shot_noise", s, gen(s))
        counts = y * rate
        assert torch.allclose(counts, counts.round(), atol=1e-3)          # integer photon counts / rate
        n = y.numel()
        assert abs(float(y.mean()) - 0.4) < 5 * (0.4 / rate / n) ** 0.5
        var = float(y.var())                                              # Poisson: var = x / rate
        assert abs(var - 0.4 / rate) < 0.05 * 0.4 / rate, (s, var, 0.4 / rate)


def test_impulse_noise_fraction():
    x = torch.full((32, 3, 32, 32), 0.5)
    for s, amount in zip(SEVERITIES, noise.IMPULSE_AMOUNT):
        y = corrupt(x, "impulse_noise", s, gen(s))
        changed = y != 0.5
        assert torch.all((y[changed] == 0) | (y[changed] == 1))
        n = y.numel()
        frac = float(changed.float().mean())
        assert abs(frac - amount) < 5 * (amount * (1 - amount) / n) ** 0.5
        salt = float((y == 1).float().mean())
        assert abs(salt - amount / 2) < 5 * (amount / 2 / n) ** 0.5


# ---- blur -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur"])
def test_blur_keeps_constant_images_and_mean(name):
    x = torch.full((2, 3, 32, 32), 0.3)
    assert torch.allclose(corrupt(x, name, 5, gen()), x, atol=1e-5)


def test_defocus_preserves_mean_and_lowers_variance(digits32):
    prev = float(digits32.var(dim=(2, 3)).mean())
    for s in SEVERITIES:
        y = corrupt(digits32, "defocus_blur", s, gen())
        v = float(y.var(dim=(2, 3)).mean())
        assert v < prev + 1e-6
        prev = v
    # the kernel radius scales with the size: a 64x64 image loses its variance like a 32x32 one
    x64 = F.interpolate(digits32, size=(64, 64), mode="bilinear", align_corners=False).clamp(0, 1)
    ratio = lambda x: float(corrupt(x, "defocus_blur", 5, gen()).var() / x.var())
    assert abs(ratio(x64) - ratio(digits32)) < 0.05
    assert size_scale(x64) == 2.0 and size_scale(digits32) == 1.0


def test_zoom_blur_fixes_the_centre_and_blurs_radially():
    x = torch.zeros(1, 1, 33, 33)
    x[..., 16, 16] = 1.0
    y = corrupt(x, "zoom_blur", 5, gen())
    assert int(y[0, 0].argmax()) == 16 * 33 + 16                          # the centre stays the brightest


def test_motion_blur_is_a_line():
    x = torch.zeros(8, 1, 33, 33)
    x[..., 16, 16] = 1.0
    y = corrupt(x, "motion_blur", 5, gen())
    # mass moves along one direction only: the spread is elongated (second moments' eigenvalues)
    ii, jj = torch.meshgrid(torch.arange(33.0), torch.arange(33.0), indexing="ij")
    for img in y[:, 0]:
        w = img / img.sum()
        mi, mj = (w * ii).sum(), (w * jj).sum()
        cov = torch.tensor([[(w * (ii - mi) ** 2).sum(), (w * (ii - mi) * (jj - mj)).sum()],
                            [(w * (ii - mi) * (jj - mj)).sum(), (w * (jj - mj) ** 2).sum()]])
        ev = torch.linalg.eigvalsh(cov)
        assert ev[1] > 10 * ev[0]


def test_glass_blur_moves_pixels_locally():
    x = torch.zeros(4, 1, 32, 32)
    x[..., ::2, :] = 1.0                                                  # stripes
    y = corrupt(x, "glass_blur", 1, gen())                                # sigma 0.05: blur is negligible
    assert torch.allclose(y.mean(), x.mean(), atol=0.05)
    assert float((y - x).abs().mean()) > 0.1                              # rows displaced by one pixel


# ---- weather ----------------------------------------------------------------------------------

def test_brightness_raises_value_and_keeps_hue(rgb, digits8):
    prev = rgb.mean()
    for s, c in zip(SEVERITIES, weather.BRIGHTNESS):
        y = corrupt(rgb, "brightness", s, gen())
        v = y.amax(dim=1)
        assert torch.allclose(v, (rgb.amax(dim=1) + c).clamp(max=1), atol=1e-6)   # HSV value + c
        assert float(y.mean()) > float(prev)
        prev = y.mean()
        # hue and saturation kept: channel ratios unchanged where the value is not clipped
        keep = (rgb.amax(dim=1, keepdim=True) + c < 1) & (rgb.amin(dim=1, keepdim=True) > 0.05)
        r_in = rgb / rgb.amax(dim=1, keepdim=True)
        r_out = y / y.amax(dim=1, keepdim=True)
        assert torch.allclose(r_in.expand_as(y)[keep.expand_as(y)], r_out[keep.expand_as(y)], atol=1e-5)
    g = corrupt(digits8, "brightness", 3, gen())
    assert torch.allclose(g, (digits8 + weather.BRIGHTNESS[2]).clamp(max=1))


def test_fog_closed_form_bounds(digits32):
    for s, (amount, _) in zip(SEVERITIES, weather.FOG):
        y = corrupt(digits32, "fog", s, gen(2))
        peak = digits32.amax(dim=(1, 2, 3), keepdim=True)
        lo = digits32 * peak / (peak + amount)                            # plasma = 0
        hi = (digits32 + amount) * peak / (peak + amount)                 # plasma = 1
        assert torch.all(y >= lo - 1e-5) and torch.all(y <= hi + 1e-5)


def test_snow_only_brightens(digits32):
    for s in SEVERITIES:
        y = corrupt(digits32, "snow", s, gen(s))
        assert torch.all(y >= digits32 - 1e-6)


# ---- digital ----------------------------------------------------------------------------------

def test_contrast_shrinks_deviation_around_the_mean(rgb):
    m = rgb.mean(dim=(2, 3), keepdim=True)
    for s, c in zip(SEVERITIES, digital.CONTRAST):
        y = corrupt(rgb, "contrast", s, gen())
        assert torch.allclose(y.mean(dim=(2, 3), keepdim=True), m, atol=1e-6)
        assert torch.allclose(y.std(dim=(2, 3)), c * rgb.std(dim=(2, 3)), atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (3, 37, 50)])
def test_pixelate_piecewise_constant_on_blocks(shape):
    x = torch.rand((2, *shape), generator=gen(4))
    h, w = shape[1:]
    prev = (h, w)
    for s in SEVERITIES:
        y = corrupt(x, "pixelate", s, gen())
        sh, sw = digital.pixelate_size(h, w, s)
        assert sh <= prev[0] and sw <= prev[1]
        prev = (sh, sw)
        # output pixel (i, j) shows low-resolution pixel (floor(i sh / h), floor(j sw / w))
        bi = (torch.arange(h) * sh) // h
        bj = (torch.arange(w) * sw) // w
        small = F.adaptive_avg_pool2d(x, (sh, sw))
        assert torch.allclose(y, small[:, :, bi][:, :, :, bj], atol=1e-6)
        assert len(torch.unique(y[0, 0])) <= sh * sw
    assert digital.pixelate_size(h, w, 5) < (h, w)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_is_the_pil_round_trip_and_quality_falls(channels):
    x = torch.rand((2, channels, 32, 32), generator=gen(6))
    sizes = []
    for s, q in zip(SEVERITIES, digital.JPEG_QUALITY):
        y = corrupt(x, "jpeg", s, gen())
        img = (x[0] * 255).round().to(torch.uint8).numpy()
        pil = Image.fromarray(img[0], "L") if channels == 1 else Image.fromarray(img.transpose(1, 2, 0), "RGB")
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=q)
        ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255
        ref = ref[None] if ref.ndim == 2 else ref.transpose(2, 0, 1)
        assert torch.equal(y[0], torch.from_numpy(ref.copy()))
        _, blobs = digital.jpeg_roundtrip(x, q)
        sizes.append(len(blobs[0]))
        # the bytes' quantization tables are the ones of quality q (luma table scaled by PIL's rule)
        qt = Image.open(io.BytesIO(blobs[0])).quantization[0]
        assert qt == Image.open(io.BytesIO(buf.getvalue())).quantization[0]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]   # fewer bytes as quality falls
    q0 = [sum(Image.open(io.BytesIO(digital.jpeg_roundtrip(x, q)[1][0])).quantization[0]) for q in digital.JPEG_QUALITY]
    assert all(b > a for a, b in zip(q0, q0[1:]))                           # coarser quantization per severity


def test_elastic_severity1_is_affine():
    # severity 1 has no elastic field (alpha = 0): a linear ramp stays exactly linear in the interior
    ii, jj = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    ramp = (0.2 + 0.6 * (0.6 * ii + 0.4 * jj) / 31).expand(4, 1, 32, 32)

    def plane_residual(y):
        a = torch.stack([ii[8:24, 8:24].flatten(), jj[8:24, 8:24].flatten(), torch.ones(256)], 1).double()
        res = []
        for img in y[:, 0]:
            b = img[8:24, 8:24].flatten().double()
            coef = torch.linalg.lstsq(a, b[:, None]).solution
            res.append(float((a @ coef - b[:, None]).abs().max()))
        return max(res)

    y1 = corrupt(ramp, "elastic", 1, gen(0))
    assert float((y1 - ramp).abs().max()) > 1e-3                          # it moved
    assert plane_residual(y1) < 1e-5
    for s in (2, 3, 4, 5):
        assert plane_residual(corrupt(ramp, "elastic", s, gen(0))) > 1e-4  # a non-affine field on top


def test_glass_blur_displacement_is_subpixel_at_8x8():
    # s = 1/4: offsets {-1/4, 0} per axis, bilinear; on alternating columns every value is a
    # 3:1 mix of neighbours or none: exactly one of 0, 1/4, 3/4, 1 (sigma 0.05 s: no blur)
    x = torch.zeros(16, 1, 8, 8)
    x[..., 1::2] = 1.0
    y = corrupt(x, "glass_blur", 1, gen())
    vals = y[..., 1:7].flatten()
    near = torch.stack([(vals - v).abs() for v in (0.0, 0.25, 0.75, 1.0)]).amin(0)
    assert float(near.max()) < 1e-5
    assert float(((vals - 0.25).abs() < 1e-5).float().mean()) > 0.1      # shifted half the time


def test_every_corruption_has_a_function_and_parameters():
    from robarena_corruptions import api

    assert set(api._FUNCS) == set(CORRUPTIONS) == set(PARAMS) and len(CORRUPTIONS) == 15
