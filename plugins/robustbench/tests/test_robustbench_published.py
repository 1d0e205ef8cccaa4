"""RobustBench's published values reach a zoo model's row: through the model spec the resolver makes
(no import of the plugin by robarena's core), into Row.published, the frame and the tables."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import zoo_layouts as Z  # noqa: E402

import bench  # noqa: E402
from robarena_robustbench.model_info import published_for  # noqa: E402
from robarena_robustbench.zoo import ENTRIES, zoo_entry  # noqa: E402

PLUGINS = ("robustbench", "classics")  # only what the test needs (installed entry-point names)

ID = "robustbench/cifar10/Linf/"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_id)
def test_every_zoo_spec_carries_robustbenchs_values(entry):
    spec = zoo_entry(entry.model_id).spec  # what the resolver gives the registry for this id
    clean, robust = spec.published
    want_clean, want_robust, source = published_for(entry.model_id)
    assert (clean.metric, clean.value, clean.source) == ("clean", want_clean, source)
    assert (robust.metric, robust.norm, robust.value) == ("robust", entry.threat, want_robust)
    # the leaderboard's radius, not the entry's training eps (Zhang2019Theoretically's file says 0.031)
    assert robust.eps_display == {"Linf": "8/255", "L2": "0.5"}[entry.threat]
    assert robust.evaluation == "AutoAttack (standard)"


def test_a_zoo_checkpoint_row_shows_the_published_values(tmp_path, monkeypatch):
    from bench.leaderboard.render import to_markdown
    from bench.rows.frame import find_columns, to_frame

    state = Z.preact18().random(seed=3)
    state["mu"] = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    state["sigma"] = torch.tensor([0.2471, 0.2435, 0.2616]).view(1, 3, 1, 1)
    ckpt = tmp_path / "Wong2020Fast.pt"
    torch.save(Z.as_zoo_file(state), ckpt)
    monkeypatch.setenv("ROBARENA_DISABLE_PLUGIN_AUTOLOAD", "1")
    res = bench.evaluate(arch=ID + "Wong2020Fast", checkpoint=str(ckpt), dataset="core/gratings32",
                         attacks=[{"id": "classics/fgsm", "norm": "Linf", "eps": "8/255"}], n=2,
                         workdir=tmp_path / "wd", plugins=PLUGINS)
    assert res.ok, res.failures
    (row,) = res.rows
    values = {(p.metric, p.threat.eps_display if p.threat else None): p.value for p in row.published}
    assert values == {("clean", None): 0.8334, ("robust", "8/255"): 0.4321}  # RobustBench's 83.34 % and 43.21 %
    assert all("model_info/cifar10/Linf/Wong2020Fast.json" in p.source for p in row.published)
    frame = to_frame([row])
    (column,) = find_columns(frame, "published", metric="robust", norm="Linf", eps=8 / 255)
    assert column == "published[robust Linf 8/255]" and frame[column].iloc[0] == 0.4321
    assert frame["published[clean]"].iloc[0] == 0.8334
    md = to_markdown([row])
    assert "published[robust Linf 8/255] (%)" in md and "43.21" in md and "Wong2020Fast.json" in md
