"""Results cannot go stale: an edited plugin (same version, edited in place) recomputes exactly its cells."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.runner.explain import changed_fields
from bench.runner.fingerprint import package_fingerprint, package_of

HERE = Path(__file__).parent
PLUGIN = '''
from bench.hookspecs import hookimpl
from bench.specs import AttackSpec


@hookimpl
def robarena_attacks():
    return [AttackSpec(name="jitter", version="1", target="throwkit.jitter:Jitter", norms=["Linf"],
                       needs_gradients=False)]
'''
ATTACK = '''
import torch

from bench.api import Attack


class Jitter(Attack):
    def run(self, model, x, y, threat, generator, target=None):
        noise = (torch.rand(x.shape, generator=generator, device=x.device) * 2 - 1) * threat.eps * SCALE
        return threat.project(x + noise, x)


SCALE = 1.0
'''
SUITE = '''
name = "stale"
datasets = [{id = "core/digits", params = {n_train = 200, n_test = 40}}]
models = [{id = "tiny-linear"}]
defenses = [{id = "erm"}]
attacks = [{id = "sign", eps = 0.1}, {id = "jitter", eps = 0.1}]
probes = [{id = "adv-gap"}, {id = "confidence"}]
train = {epochs = 1, batch_size = 50, lr = 0.1}
eval = {n = 40, batch_size = 40}
'''


def _write_plugin(root: Path, scale: str) -> None:
    pkg = root / "throwkit"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    (pkg / "jitter.py").write_text(textwrap.dedent(ATTACK).replace("SCALE = 1.0", f"SCALE = {scale}"))


def _cli(tmp_path: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "src"), str(HERE / "testkit")]),
           "ROBARENA_DISABLE_PLUGIN_AUTOLOAD": "1"}
    out = subprocess.run([sys.executable, "-m", "bench.cli.main", "-p", "robarena_testkit", "-p", "throwkit", *args,
                          "--workdir", str(tmp_path / "wd"), "--device", "cpu", "--no-progress"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _actions(explained: str) -> dict[str, str]:
    """cell id -> 'reuse' | 'compute' from ``run --explain`` output."""
    out = {}
    for line in explained.splitlines():
        action, _, rest = line.partition(" ")
        if action in ("reuse", "compute"):
            out[rest.strip().split("  ")[0]] = action
    return out


def test_an_edited_plugin_recomputes_exactly_its_cells(tmp_path):
    _write_plugin(tmp_path / "src", "1.0")
    (tmp_path / "suite.toml").write_text(SUITE)
    first = _cli(tmp_path, "run", "suite.toml")
    assert "0 from cache" in first
    assert set(_actions(_cli(tmp_path, "run", "suite.toml", "--explain")).values()) == {"reuse"}

    _write_plugin(tmp_path / "src", "0.5")  # same name, same version: only the code changed
    explained = _cli(tmp_path, "run", "suite.toml", "--explain")
    actions = _actions(explained)
    recomputed = sorted(cell for cell, action in actions.items() if action == "compute")
    row = "digits/tiny-linear/erm/seed0"
    # the jitter attack and the probe that reads every attack; training, clean, sign and confidence stay
    assert recomputed == [f"{row} :: jitter Linf 0.1", f"{row} :: probe adv-gap"]
    assert "attack.code:" in explained  # the reason names the fingerprint that moved
    second = _cli(tmp_path, "run", "suite.toml")
    assert "2 cell(s) computed" in second


def test_fingerprints_follow_the_files_of_the_package(tmp_path, monkeypatch):
    _write_plugin(tmp_path / "src", "1.0")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    package_fingerprint.cache_clear()
    before = package_fingerprint("throwkit")
    (tmp_path / "src" / "throwkit" / "jitter.py").write_text("# edited\n")
    assert package_fingerprint("throwkit") == before  # hashed once per process ...
    package_fingerprint.cache_clear()
    assert package_fingerprint("throwkit") != before  # ... and a new process sees the edit
    package_fingerprint.cache_clear()
    assert package_of("throwkit.jitter:Jitter") == "throwkit"
    assert package_of("bench.data.digits:Digits") == "bench.data"
    assert package_fingerprint("no_such_package_here") is None


def test_changed_fields_names_every_differing_path():
    old = {"train": "k1", "attack": {"id": "x/a", "code": "1111", "params": {"steps": 20}}}
    new = {"train": "k1", "attack": {"id": "x/a", "code": "2222", "params": {"steps": 40, "restarts": 2}}}
    assert changed_fields(old, new) == ["attack.code: 1111 -> 2222", "attack.params.restarts: added",
                                        "attack.params.steps: 20 -> 40"]
    assert changed_fields(old, old) == []
