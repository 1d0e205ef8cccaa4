"""Bring your own model: registered ids, timm names and module:factory with safe checkpoints."""
import os
import pickle
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import bench
from bench.cli.main import main
from bench.errors import UnsafeCheckpointError, UsageError
from bench.runner.models import load_state

HERE = Path(__file__).parent
ATTACK = [{"id": "sign", "eps": 0.1}]


@pytest.fixture
def factory_path(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    yield
    sys.modules.pop("byo_factory", None)


def train_plain(model, steps=60):
    from bench.data.digits import Digits

    data = Digits()()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(data.x_train), data.y_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), data


def test_module_factory_with_safetensors_checkpoint(tmp_path, testkit, factory_path):
    import byo_factory

    torch.manual_seed(0)
    model, data = train_plain(byo_factory.make(16))
    ckpt = tmp_path / "mine.safetensors"
    save_file(model.state_dict(), str(ckpt))
    res = bench.evaluate(arch="byo_factory:make", checkpoint=str(ckpt), dataset="core/digits", attacks=ATTACK,
                         n=100, workdir=tmp_path / "wd", plugins=testkit)
    assert res.ok, res.failures
    with torch.no_grad():
        expected = (model(data.x_test[:100]).argmax(1) == data.y_test[:100]).double().mean().item()
    row = res.rows[0]
    assert row.clean_accuracy == expected and row.clean_accuracy > 0.8
    assert row.defense == "pretrained" and row.model == "mine"
    assert row.robust["sign Linf 0.1"] <= row.clean_accuracy


def test_registered_arch_with_weights_only_torch_file(tmp_path, testkit):
    from bench.testing.tiny import TinyLinear

    model, data = train_plain(TinyLinear((1, 8, 8), 10))
    ckpt = tmp_path / "lin.pt"
    torch.save(model.state_dict(), ckpt)
    code = main(["-p", "robarena_testkit", "eval", "--arch", "tiny-linear", "--checkpoint", str(ckpt),
                 "--dataset", "core/digits", "--attack", "sign:Linf:0.05", "--n", "80",
                 "--workdir", str(tmp_path / "wd"), "--no-progress"])
    assert code == 0
    from bench.runner.results import load_rows

    (row,) = load_rows(tmp_path / "wd", "eval")
    with torch.no_grad():
        expected = (model(data.x_test[:80]).argmax(1) == data.y_test[:80]).double().mean().item()
    assert row.clean_accuracy == expected


def test_timm_architecture_by_name(tmp_path, testkit):
    from bench.runner.models import build_arch

    reg = bench.registry.get_registry(testkit)
    model = build_arch("timm/resnet10t", reg, (3, 32, 32), 10)
    ckpt = tmp_path / "r.safetensors"
    save_file(model.module.state_dict(), str(ckpt))
    res = bench.evaluate(arch="timm/resnet10t", checkpoint=str(ckpt), dataset="core/gratings32",
                         attacks=[{"id": "noise", "eps": "8/255"}], n=8, workdir=tmp_path / "wd", plugins=testkit)
    assert res.ok, res.failures
    assert model.features(torch.rand(2, 3, 32, 32)).shape[0] == 2


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_checkpoint_is_refused(tmp_path, testkit):
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.marker = marker
    ckpt = tmp_path / "evil.pt"
    ckpt.write_bytes(pickle.dumps({"weight": exploit}))
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        load_state(str(ckpt))
    assert not marker.exists()
    with pytest.raises(UsageError, match="refusing to load"):
        bench.evaluate(arch="tiny-linear", checkpoint=str(ckpt), dataset="core/digits", attacks=ATTACK, n=10,
                       workdir=tmp_path / "wd", plugins=testkit)  # refused while planning: no run recorded
    assert not marker.exists()
    assert not (tmp_path / "wd" / "results.sqlite").exists()


def test_checkpoint_that_does_not_match_the_architecture(tmp_path, testkit):
    ckpt = tmp_path / "wrong.safetensors"
    save_file({"foo": torch.zeros(3)}, str(ckpt))
    with pytest.raises(UsageError, match="does not match the architecture: Missing key.*Unexpected key.*foo"):
        bench.evaluate(arch="tiny-linear", checkpoint=str(ckpt), dataset="core/digits", attacks=ATTACK, n=10,
                       workdir=tmp_path / "wd", plugins=testkit)


def test_missing_checkpoint_and_unknown_timm_name(tmp_path, testkit):
    with pytest.raises(UsageError, match="does not exist"):
        load_state(str(tmp_path / "nope.pt"))
    from bench.runner.models import build_arch

    with pytest.raises(UsageError, match="timm has no architecture"):
        build_arch("timm/not-a-model", bench.registry.get_registry(testkit), (3, 32, 32), 10)
