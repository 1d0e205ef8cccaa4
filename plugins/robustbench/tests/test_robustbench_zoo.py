"""RobustBench zoo ids: key mapping against the zoo's layout, forward passes against functional references,
normalization handling, the resolver and its errors, published values and model-info JSON."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import zoo_layouts as Z  # noqa: E402

from bench.errors import UnknownComponentError, UsageError  # noqa: E402
from robarena_robustbench import architectures as A  # noqa: E402
from robarena_robustbench.keys import zoo_state_to_robarena  # noqa: E402
from robarena_robustbench.model_info import (ModelInfo, model_info_for, model_info_for_row,  # noqa: E402
                                             published_for, read_model_info, write_model_info)
from robarena_robustbench.zoo import CIFAR10_MEAN, CIFAR10_STD, ENTRIES, entry_for, zoo_class  # noqa: E402

ID = "robustbench/cifar10/Linf/"

L2 = "robustbench/cifar10/L2/"
LAYOUTS = {
    "Standard": lambda: Z.trades_wrn(28, 10),
    "Carmon2019Unlabeled": lambda: Z.trades_wrn(28, 10, sub_block1=True),
    "Zhang2019Theoretically": lambda: Z.trades_wrn(34, 10, sub_block1=True),
    "Rice2020Overfitting": lambda: Z.trades_wrn(34, 20),
    "Gowal2020Uncovering_28_10_extra": lambda: Z.dm_wrn(28, 10),
    "Gowal2020Uncovering_70_16_extra": lambda: Z.dm_wrn(70, 16),
    "Wong2020Fast": Z.preact18,
    "Engstrom2019Robustness": Z.resnet50,
}
NORM = {"Rice2020Overfitting": ("mu", "sigma"), "Wong2020Fast": ("mu", "sigma"),
        "Engstrom2019Robustness": ("mu", "sigma"), "Gowal2020Uncovering_28_10_extra": ("mean", "std"),
        "Gowal2020Uncovering_70_16_extra": ("mean", "std"), "L2/Rice2020Overfitting": ("mu", "sigma")}
LAYOUTS["L2/Rice2020Overfitting"] = lambda: Z.preact18(bn_before_fc=True)


def _id(name: str) -> str:
    return "robustbench/cifar10/" + (name if "/" in name else "Linf/" + name)


def test_every_supported_entry_has_a_layout_under_test():
    assert sorted(e.model_id for e in ENTRIES) == sorted(_id(n) for n in LAYOUTS)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_zoo_key_layout_maps_onto_the_model(name):
    """The zoo's keys (with module. prefix and the normalization buffers) map exactly onto the model's
    state dict, shapes included; built on the meta device, so WRN-70-16 costs no memory."""
    zoo = Z.as_zoo_file(LAYOUTS[name]().random(device="meta"))["state_dict"]
    if name in NORM:
        mean_key, std_key = NORM[name]
        shape = (1, 3, 1, 1) if mean_key == "mu" else (3, 1, 1)
        zoo[f"module.{mean_key}"] = torch.empty(shape, device="meta")
        zoo[f"module.{std_key}"] = torch.empty(shape, device="meta")
    mapped = zoo_state_to_robarena(zoo, entry_for(_id(name)))
    with torch.device("meta"):
        model = zoo_class(_id(name))((3, 32, 32), 10)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in mapped.items()} == expected


def test_wrn_70_16_has_the_published_size():
    """Gowal et al. (2020) give WRN-70-16 267M parameters; the layout and the model agree on the count."""
    layout = Z.dm_wrn(70, 16)
    params = sum(torch.Size(s).numel() for k, s in layout.shapes.items()
                 if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    with torch.device("meta"):
        net = A.DMWideResNet(depth=70, width=16)
    assert sum(p.numel() for p in net.parameters()) == params
    assert 266_500_000 < params < 267_500_000


def test_preact18_logits_equal_the_zoo_forward():
    """Wong2020Fast: mu/sigma from the file, the shortcut reading the raw input (RobustBench's PreActBlock)."""
    state = Z.preact18().random(seed=1)
    mu = torch.tensor([0.3, 0.5, 0.6]).view(1, 3, 1, 1)
    sigma = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    model = zoo_class(ID + "Wong2020Fast")((3, 32, 32), 10).eval()
    model.load_state_dict(Z.as_zoo_file({**state, "mu": mu, "sigma": sigma}))
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = Z.preact18_reference(state, (x - mu) / sigma)
        got = model(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert torch.equal(model.normalize.mean, mu)  # the file's normalization, not the table's
    assert model.features(x).shape == (3, 512)


def test_preact18_v2_logits_equal_the_zoo_forward():
    """L2 Rice2020Overfitting: PreActBlockV2 (shortcut from the activated input) and BN + ReLU before the pool."""
    state = Z.preact18(bn_before_fc=True).random(seed=6)
    mu, sigma = torch.full((1, 3, 1, 1), 0.5), torch.full((1, 3, 1, 1), 0.25)
    model = zoo_class(L2 + "Rice2020Overfitting")((3, 32, 32), 10).eval()
    model.load_state_dict(Z.as_zoo_file({**state, "mu": mu, "sigma": sigma}, wrap=False))
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = Z.preact18_reference(state, (x - mu) / sigma, v2=True)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(expected, Z.preact18_reference(state, (x - mu) / sigma, v2=False))
    assert published_for(L2 + "Rice2020Overfitting")[:2] == (0.8867, 0.6768)
    assert entry_for(L2 + "Rice2020Overfitting").eps == "0.5"


def test_dm_wide_resnet_logits_equal_the_zoo_forward():
    """DeepMind's WRN (tiny: depth 10, width 1) with Swish and its asymmetric 'SAME' padding at stride 2."""
    state = Z.dm_wrn(10, 1).random(seed=2)
    net = A.DMWideResNet(depth=10, width=1).eval()
    net.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(net(x), Z.dm_wrn_reference(state, x, depth=10), rtol=1e-4, atol=1e-5)


def test_dm_checkpoint_without_mean_std_uses_the_published_constants():
    entry = entry_for(ID + "Gowal2020Uncovering_28_10_extra")
    mapped = zoo_state_to_robarena({"module.logits.bias": torch.zeros(10)}, entry)
    assert torch.equal(mapped["normalize.mean"], torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1))
    assert torch.equal(mapped["normalize.std"], torch.tensor(CIFAR10_STD).view(1, 3, 1, 1))
    assert set(mapped) == {"normalize.mean", "normalize.std", "net.logits.bias"}
    with_buffers = zoo_state_to_robarena({"mean": torch.full((3, 1, 1), 0.5), "std": torch.full((3, 1, 1), 0.25)},
                                         entry)
    assert with_buffers["normalize.std"].shape == (1, 3, 1, 1) and with_buffers["normalize.std"][0, 1, 0, 0] == 0.25


def test_unnormalized_entry_gets_identity_normalization_and_nested_prefixes_are_removed():
    mapped = zoo_state_to_robarena({"state_dict": {"module.module.fc.bias": torch.ones(10)}}, entry_for(ID + "Standard"))
    assert set(mapped) == {"normalize.mean", "normalize.std", "net.fc.bias"}
    assert mapped["normalize.mean"].abs().sum() == 0 and torch.equal(mapped["normalize.std"], torch.ones(1, 3, 1, 1))


@pytest.mark.filterwarnings("ignore:.*meta parameter")
def test_mismatched_checkpoint_is_rejected():
    """A WRN-28-10 file given as a WRN-34-10 id fails strict loading."""
    state = Z.as_zoo_file(Z.trades_wrn(28, 10, sub_block1=True).random(device="meta"))
    with torch.device("meta"):
        model = zoo_class(ID + "Zhang2019Theoretically")((3, 32, 32), 10)
    with pytest.raises(RuntimeError, match="Missing key"):
        model.load_state_dict(state)


def test_resolver_through_the_registry_and_its_errors():
    from bench.registry import get_registry

    reg = get_registry(fresh=True)
    entry = reg.get("model", ID + "Wong2020Fast")
    assert entry.qualified_id == ID + "Wong2020Fast" and entry.plugin.name == "robustbench"
    assert entry.load() is zoo_class(ID + "Wong2020Fast")
    with pytest.raises(UnknownComponentError, match="Chen2020Adversarial is not supported: an ensemble"):
        reg.get("model", ID + "Chen2020Adversarial")
    with pytest.raises(UnknownComponentError, match=r"Did you mean robustbench/cifar10/Linf/Wong2020Fast\?") as exc:
        reg.get("model", ID + "Wong2020Fats")
    assert "Supported: robustbench/cifar10/L2/Rice2020Overfitting, robustbench/cifar10/Linf/Carmon2019Unlabeled" \
        in str(exc.value)
    with pytest.raises(UnknownComponentError, match=r"Did you mean robustbench/cifar10/L2/Rice2020Overfitting\?"):
        reg.get("model", "robustbench/cifar10/L2/Rice2020Overfiting")
    with pytest.raises(UnknownComponentError, match="must look like robustbench/<dataset>/<threat>/<model name>"):
        reg.get("model", "robustbench/Wong2020Fast")


def test_published_values_are_robustbenchs():
    assert published_for(ID + "Carmon2019Unlabeled")[:2] == (0.8969, 0.5953)
    clean, robust, source = published_for(ID + "Gowal2020Uncovering_70_16_extra")
    assert (clean, robust) == (0.911, 0.6587)
    assert "model_info/cifar10/Linf/Gowal2020Uncovering_70_16_extra.json" in source
    assert published_for(ID + "Wong2020Fast")[:2] == (0.8334, 0.4321)
    assert published_for(ID + "Standard")[:2] == (0.9478, 0.0)
    with pytest.raises(UnknownComponentError):
        published_for(ID + "Ding2020MMA")


CARMON_JSON = ('{"link": "https://arxiv.org/abs/1905.13736", "name": "Unlabeled Data Improves Adversarial Robustness", '
               '"authors": "Yair Carmon, Aditi Raghunathan, Ludwig Schmidt, Percy Liang, John C. Duchi", '
               '"additional_data": true, "number_forward_passes": 1, "dataset": "cifar10", "venue": "NeurIPS 2019", '
               '"architecture": "WideResNet-28-10", "eps": "8/255", "clean_acc": "89.69", "reported": "62.5", '
               '"autoattack_acc": "59.53", "unreliable": false}')


def test_model_info_json_round_trip(tmp_path):
    path = tmp_path / "Carmon2019Unlabeled.json"
    path.write_text(CARMON_JSON)
    info = read_model_info(path)
    assert info.clean == pytest.approx(0.8969) and info.robust == pytest.approx(0.5953)
    assert info.venue == "NeurIPS 2019" and info.additional_data is True
    out = write_model_info(info, tmp_path / "out.json")
    assert json.loads(out.read_text()) == json.loads(CARMON_JSON)  # unknown fields ("unreliable") kept
    assert read_model_info(json.loads(CARMON_JSON)) == info
    with pytest.raises(ValueError, match="percentage"):
        ModelInfo(name="x", clean_acc="101")


def test_model_info_for_a_robarena_row_and_for_a_zoo_id():
    info = model_info_for_row("my model", clean=0.8125, worst_case=0.5, eps="8/255", architecture="WideResNet-28-10")
    dumped = json.loads(info.model_dump_json(exclude_none=True))
    assert dumped["clean_acc"] == "81.25" and dumped["autoattack_acc"] == "50.00" and dumped["eps"] == "8/255"
    assert read_model_info(dumped).robust == 0.5
    with pytest.raises(ValueError, match="exceeds clean"):
        model_info_for_row("bad", clean=0.4, worst_case=0.5, eps="8/255")
    zoo = model_info_for(ID + "Engstrom2019Robustness")
    assert (zoo.clean_acc, zoo.autoattack_acc, zoo.architecture) == ("87.03", "49.25", "ResNet-50")


def test_robarena_layout_passes_through():
    model = zoo_class(ID + "Wong2020Fast")((3, 32, 32), 10)
    own = model.state_dict()
    again = zoo_class(ID + "Wong2020Fast")((3, 32, 32), 10)
    again.load_state_dict(own)
    assert torch.equal(again.net.linear.weight, model.net.linear.weight)


def test_malformed_normalization_is_a_usage_error():
    with pytest.raises(UsageError, match="normalization"):
        zoo_state_to_robarena({"mu": torch.zeros(1, 3, 1, 1), "sigma": torch.ones(1, 1, 1, 1)},
                              entry_for(ID + "Wong2020Fast"))
