"""End to end: a zoo-layout checkpoint file (random weights, {'state_dict': {'module.*': ...}}, read
weights-only) evaluated through ``bench.evaluate(arch='robustbench/cifar10/Linf/<name>')`` and the CLI.

WRN-34-10/34-20/70-16 (Zhang2019Theoretically, Rice2020Overfitting, Gowal2020Uncovering_70_16_extra) and
Carmon2019Unlabeled (WRN-28-10 + sub_block1, the layout of Standard plus one group) are covered by the
key-mapping tests only: their files are 185M-267M parameters, too large to write and run in the suite.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import zoo_layouts as Z  # noqa: E402

import bench  # noqa: E402
from robarena_robustbench.zoo import zoo_class  # noqa: E402

ID = "robustbench/cifar10/Linf/"
FGSM = [{"id": "classics/fgsm", "norm": "Linf", "eps": "8/255"}]

CASES = {  # name -> (layout, normalization buffers in the file, n)
    "Wong2020Fast": (Z.preact18, ("mu", "sigma"), 4),
    "Engstrom2019Robustness": (Z.resnet50, ("mu", "sigma"), 2),
    "Standard": (lambda: Z.trades_wrn(28, 10), None, 2),
    "Gowal2020Uncovering_28_10_extra": (lambda: Z.dm_wrn(28, 10), None, 2),  # an older file without mean/std
}


def _clean_predictions(name: str, state: dict, n: int) -> float:
    from bench.data.gratings import Gratings32

    data = Gratings32()()
    model = zoo_class(ID + name)((3, 32, 32), 10).eval()
    model.load_state_dict(state)
    with torch.no_grad():
        return (model(data.x_test[:n]).argmax(1) == data.y_test[:n]).double().mean().item()


@pytest.mark.parametrize("name", sorted(CASES))
def test_zoo_checkpoint_evaluates_end_to_end(name, tmp_path):
    layout, norm, n = CASES[name]
    state = layout().random(seed=3)
    if norm:
        state[norm[0]] = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
        state[norm[1]] = torch.tensor([0.2471, 0.2435, 0.2616]).view(1, 3, 1, 1)
    ckpt = tmp_path / f"{name}.pt"
    torch.save(Z.as_zoo_file(state), ckpt)
    res = bench.evaluate(arch=ID + name, checkpoint=str(ckpt), dataset="core/gratings32", attacks=FGSM, n=n,
                         workdir=tmp_path / "wd")
    assert res.ok, res.failures
    (row,) = res.rows
    assert row.clean_accuracy == _clean_predictions(name, Z.as_zoo_file(state), n)
    (attack,) = row.attack_results()
    assert attack.accuracy is not None and attack.accuracy.n == n and attack.accuracy.value <= row.clean_accuracy


def test_cli_eval_with_a_zoo_id(tmp_path, capsys):
    from bench.cli.main import main

    state = Z.preact18().random(seed=4)
    state["mu"] = torch.zeros(1, 3, 1, 1)
    state["sigma"] = torch.ones(1, 3, 1, 1)
    ckpt = tmp_path / "wong.pt"
    torch.save(Z.as_zoo_file(state), ckpt)
    code = main(["eval", "--arch", ID + "Wong2020Fast", "--checkpoint", str(ckpt), "--dataset", "core/gratings32",
                 "--attack", "classics/fgsm:Linf:8/255", "--n", "2", "--workdir", str(tmp_path / "wd"),
                 "--no-progress"])
    assert code == 0
    code = main(["eval", "--arch", ID + "Ding2020MMA", "--checkpoint", str(ckpt), "--dataset", "core/gratings32",
                 "--attack", "classics/fgsm:Linf:8/255", "--n", "2", "--workdir", str(tmp_path / "wd2"),
                 "--no-progress"])
    assert code != 0
    assert "Ding2020MMA is not supported" in capsys.readouterr().err


def test_suite_file_with_a_pretrained_zoo_entry(tmp_path):
    """The same id in a suite TOML's [[pretrained]] (weights-only file, zoo layout), as a user writes it."""
    state = Z.preact18().random(seed=5)
    state["mu"] = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    state["sigma"] = torch.tensor([0.2471, 0.2435, 0.2616]).view(1, 3, 1, 1)
    torch.save(Z.as_zoo_file(state), tmp_path / "Wong2020Fast.pt")
    suite = tmp_path / "zoo.toml"
    suite.write_text(f"""
name = "zoo"
seeds = [0]

[[pretrained]]
label = "wong2020"
arch = "{ID}Wong2020Fast"
checkpoint = "{tmp_path / 'Wong2020Fast.pt'}"
dataset = "core/gratings32"

[[attacks]]
id = "classics/fgsm"
norm = "Linf"
eps = "8/255"

[eval]
n = 3
""")
    res = bench.run(str(suite), workdir=tmp_path / "wd")
    assert res.ok, res.failures
    (row,) = res.rows
    assert row.clean_accuracy == _clean_predictions("Wong2020Fast", Z.as_zoo_file(state), 3)
