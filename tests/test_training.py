"""The shared training loop: determinism, schedules, and resuming from the last epoch checkpoint."""
import math

import pytest
import torch

from bench.api.defense import TrainContext
from bench.api.training import fit_with_loss, lr_at
from bench.config import TrainConfig
from bench.data.digits import Digits
from bench.testing.tiny import TinyConv


def ce(model, x, y, ctx):
    return torch.nn.functional.cross_entropy(model(x), y)


def make_ctx(tmp_path=None, seed=0):
    ctx = TrainContext(device=torch.device("cpu"), seed=seed, generator=torch.Generator().manual_seed(seed))
    if tmp_path is not None:
        path = tmp_path / "partial.pt"

        def save(epoch, state):
            torch.save({"epoch": epoch, **state}, path)

        def load():
            if not path.exists():
                return None
            state = torch.load(path, weights_only=True)
            return int(state.pop("epoch")), state

        ctx.save_epoch, ctx.load_epoch = save, load
    return ctx


def train(ctx, loss=ce, epochs=3):
    data = Digits(Digits.Config(n_train=128, n_test=16))()
    torch.manual_seed(0)
    model = TinyConv((1, 8, 8), 10)
    return fit_with_loss(model, data, TrainConfig(epochs=epochs, batch_size=32, augment=["crop", "flip"]), ctx, loss)


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    reference = train(make_ctx())
    calls = {"n": 0}

    def crash_in_epoch_two(model, x, y, ctx):
        calls["n"] += 1
        if calls["n"] == 6:  # 4 steps per epoch: the second step of epoch 2
            raise KeyboardInterrupt
        return ce(model, x, y, ctx)

    with pytest.raises(KeyboardInterrupt):
        train(make_ctx(tmp_path), loss=crash_in_epoch_two)
    saved = torch.load(tmp_path / "partial.pt", weights_only=True)
    assert saved["epoch"] == 1
    resumed = train(make_ctx(tmp_path))
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_same_seed_same_weights_other_seed_differs():
    a, b, c = train(make_ctx(seed=0)), train(make_ctx(seed=0)), train(make_ctx(seed=1))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))


def test_learning_rate_schedules():
    cosine = TrainConfig(lr=0.2, schedule="cosine")
    assert lr_at(cosine, 0.0) == pytest.approx(0.2) and lr_at(cosine, 0.5) == pytest.approx(0.1)
    cyclic = TrainConfig(lr=0.2, schedule="cyclic")  # P3: cyclic LR peaking at 0.2
    assert lr_at(cyclic, 0.0) == 0.0 and lr_at(cyclic, 0.4) == pytest.approx(0.2)
    assert lr_at(cyclic, 1.0) == pytest.approx(0.0) and lr_at(cyclic, 0.7) == pytest.approx(0.1)
    assert lr_at(TrainConfig(lr=0.2, schedule="constant"), 0.9) == 0.2
    assert math.isclose(lr_at(TrainConfig(lr=0.2, schedule="step"), 0.6), 0.02)
