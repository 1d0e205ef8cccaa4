"""Transfer beside the linear probe: fine-tuning the last block or the whole extractor (which weights
move), and Cui et al. (2018)'s class-mean EMD against closed forms."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.api import Classifier
from bench.errors import UsageError
from robarena_infotransfer.tasks.transfer import TransferConfig, TransferredModel
from robarena_infotransfer.tasks.transfer_emd import class_mean_emd
from robarena_infotransfer.tasks.transfer_finetune import copy_source, finetune, last_block, trainable_names
from robarena_infotransfer.tasks.transfer_head import fit_linear_head


class TwoBlocks(Classifier):
    """conv block, conv block, a final batch norm, and the source's own head (unused by features)."""

    def __init__(self):
        super().__init__((1, 4, 4), 3)
        self.block1 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 3)

    def extract(self, z):
        return self.bn(self.block2(self.block1(z))).mean(dim=(2, 3))


def data(n=48):
    gen = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 4, 4, generator=gen), torch.arange(n) % 3


def tuned(mode):
    torch.manual_seed(0)
    source = TwoBlocks().eval()
    before = {k: v.clone() for k, v in source.state_dict().items()}
    x, y = data()
    head = fit_linear_head(source.features(x).detach(), y, 3, max_iter=50)
    head_before = head.linear.weight.clone()
    model = finetune(TransferredModel(copy_source(source), head), mode, x, y, epochs=2, lr=0.1, batch_size=16,
                     generator=torch.Generator().manual_seed(1))
    after = dict(model.source.named_parameters())
    moved = {n for n, p in source.named_parameters() if not torch.equal(p, after[n])}
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in before.items())  # the source is never changed
    return moved, not torch.equal(head_before, model.head.linear.weight), model


def test_last_block_is_the_last_child_with_a_weight_matrix_and_what_follows_it():
    assert last_block(TwoBlocks()) == ["block2", "bn"]
    assert trainable_names(TwoBlocks(), "finetune-last") == ["block2.0.weight", "block2.0.bias", "bn.weight",
                                                             "bn.bias"]
    with pytest.raises(UsageError, match="'linear', 'finetune-last' or 'finetune-all'"):
        trainable_names(TwoBlocks(), "finetune-some")


def test_finetune_last_moves_only_the_last_block_and_the_head():
    moved, head_moved, model = tuned("finetune-last")
    assert moved == {"block2.0.weight", "block2.0.bias", "bn.weight", "bn.bias"} and head_moved
    assert not model.training and all(not p.requires_grad for p in model.parameters())


def test_finetune_all_moves_every_extractor_weight_and_the_head():
    moved, head_moved, _ = tuned("finetune-all")
    extractor = {n for n, _ in TwoBlocks().named_parameters() if not n.startswith("head.")}
    assert moved == extractor and head_moved


def test_linear_moves_nothing_and_the_default_head_is_linear():
    moved, head_moved, _ = tuned("linear")
    assert moved == set() and not head_moved
    assert TransferConfig().head == "linear"
    with pytest.raises(ValueError):
        TransferConfig(head="finetune")


def test_class_mean_emd_closed_forms():
    # two classes, equal shares; means (0, 0), (2, 0) vs (0, 1), (2, 1): every unit of mass moves 1
    za = torch.tensor([[0.0, 0.0], [0.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
    zb = torch.tensor([[-1.0, 1.0], [1.0, 1.0], [2.0, 1.0]])  # class 7 mean (0, 1), class 9 (2, 1), shares 2/3, 1/3
    yb = torch.tensor([7, 7, 9])
    # mass 1/2 at (0,0), 1/2 at (2,0) -> 2/3 at (0,1), 1/3 at (2,1): 1/2 straight up (1), 1/6 from (2,0) to
    # (0,1) (sqrt 5), 1/3 straight up (1)
    expected = 0.5 * 1 + (1 / 6) * 5 ** 0.5 + (1 / 3) * 1
    assert class_mean_emd(za, torch.tensor([0, 0, 1, 1]), zb, yb) == pytest.approx(expected, rel=1e-9)
    # weights by images per class: one class at 0 vs classes at 3 (1 image) and 1 (3 images) in 1-D
    assert class_mean_emd(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long), torch.tensor([[3.0], [1.0], [1.0], [1.0]]),
                          torch.tensor([0, 1, 1, 1])) == pytest.approx(0.25 * 3 + 0.75 * 1)
    with pytest.raises(UsageError, match="features"):
        class_mean_emd(torch.zeros(2, 1), torch.zeros(3, dtype=torch.long), torch.zeros(2, 1),
                       torch.zeros(2, dtype=torch.long))
