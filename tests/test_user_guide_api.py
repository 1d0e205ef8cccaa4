"""The user guide's Python API snippets, read from docs/user-guide.md so they cannot go stale:
the standalone attack call runs as written, and every ``bench.<function>(...)`` call of the
checked blocks names an exported function with arguments its signature accepts."""
from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import torch

import bench

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user-guide.md"


def _blocks(marker: str) -> list[str]:
    """The fenced python blocks that directly follow ``<!-- marker -->`` in the guide."""
    text = GUIDE.read_text(encoding="utf-8")
    found = re.findall(rf"<!-- {re.escape(marker)} -->\n```python\n(.*?)```", text, flags=re.S)
    assert found, f"no python block marked {marker!r} in {GUIDE}"
    return found


def test_the_standalone_attack_snippet_runs_as_documented(monkeypatch):
    monkeypatch.delenv("ROBARENA_DISABLE_PLUGIN_AUTOLOAD", raising=False)  # the snippet's registry: installed plugins
    (snippet,) = _blocks("tested: standalone attack")
    assert len([line for line in snippet.splitlines() if line and not line.startswith(("from ", "import "))]) <= 4
    from bench.registry import get_registry
    from bench.testing.tiny import TinyLinear

    impl = get_registry().get("dataset", "core/digits").load()
    data = impl(impl.Config(n_train=10, n_test=32))()
    x, y = data.x_test, data.y_test
    model = TinyLinear((1, 8, 8), 10, seed=1)
    model.train()
    space: dict = {"model": model, "x": x, "y": y}
    exec(compile(snippet, f"{GUIDE.name}: standalone attack", "exec"), space)
    x_adv, robust = space["x_adv"], space["robust"]
    assert x_adv.shape == x.shape and float((x_adv - x).abs().max()) <= 0.1 + 1e-6
    assert 0.0 <= float(x_adv.min()) and float(x_adv.max()) <= 1.0
    assert model.training  # the attack restored the model's mode
    with torch.no_grad():
        clean_loss = torch.nn.functional.cross_entropy(model(x), y)
        adv_loss = torch.nn.functional.cross_entropy(model(x_adv), y)
        clean_ok = model(x).argmax(1) == y
    assert adv_loss > clean_loss  # PGD ascends the loss
    assert int(robust.sum()) < int(clean_ok.sum())  # and flips some correct predictions


def test_documented_bench_calls_match_the_signatures():
    called = set()
    for block in _blocks("checked: bench calls"):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "bench":
                name = node.func.attr
                assert name in bench.__all__, f"the guide calls bench.{name}, which bench does not export"
                args = [None] * len(node.args)
                kwargs = {k.arg: None for k in node.keywords}
                inspect.signature(getattr(bench, name)).bind(*args, **kwargs)  # TypeError if stale
                called.add(name)
    assert called == {"results", "load_rows", "load_model", "examples", "size_curves"}
