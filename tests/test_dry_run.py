"""``robarena run SUITE --dry-run``: pass counts against hand-computed values, cached cells counted zero,
nothing written to the work directory, every cell named in the CLI output."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.api.cost import Cost
from bench.runner.estimate import dry_run

PLUGINS = ("classics",)  # only the core and classics: other plugins cannot change these numbers


@pytest.fixture(autouse=True)
def classics_only(monkeypatch):
    monkeypatch.setenv("ROBARENA_DISABLE_PLUGIN_AUTOLOAD", "1")


# digits: 1,297 training and 500 test examples, all used; the evaluation takes the first 40
N_TRAIN, N_EVAL = 1297, 40


def suite(defenses, attacks, epochs=2, name="dry"):
    return {
        "name": name, "integrity": False, "seeds": [0],
        "datasets": [{"id": "core/digits"}],
        "models": [{"id": "classics/small-cnn"}],
        "defenses": defenses, "attacks": attacks,
        "train": {"epochs": epochs, "batch_size": 64, "lr": 0.1},
        "eval": {"n": N_EVAL, "batch_size": 40},
    }


PGD_AT3 = {"id": "classics/pgd-at", "label": "pgd-at3",
           "params": {"norm": "Linf", "eps": 0.1, "steps": 3, "step_size": 0.05, "random_start": True}}
TRADES2 = {"id": "classics/trades", "label": "trades2",
           "params": {"beta": 6.0, "norm": "Linf", "eps": 0.1, "steps": 2, "step_size": 0.1}}
STANDARD = {"id": "classics/standard"}
PGD5x2 = {"id": "classics/pgd", "label": "pgd5x2", "norm": "Linf", "eps": 0.1,
          "params": {"steps": 5, "step_size": 0.05, "restarts": 2, "random_start": True}}
FGSM = {"id": "classics/fgsm", "norm": "Linf", "eps": 0.1}


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root``: size and sha256 (the directory's full content)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


def by_cell(est):
    return {c.cell_id: c for c in est.cells}


def test_pass_counts_match_hand_computed_values(tmp_path):
    est = dry_run(suite([PGD_AT3, TRADES2, STANDARD], [PGD5x2, FGSM]), workdir=tmp_path / "wd", device="cpu",
                  plugins=PLUGINS, measure_throughput=False)
    cells = by_cell(est)
    row = "digits/small-cnn/{}/seed0"
    # PGD-AT, 3 steps: 3 + 1 forward/backward passes per example and epoch, 2 epochs of 1,297 examples
    assert cells[row.format("pgd-at3")].cost == Cost(4 * 2 * 1297, 4 * 2 * 1297)
    # TRADES, 2 steps: f(x) target + 2 ascent steps + outer loss on x and x' = 5 forwards, 2 + 2 backwards
    assert cells[row.format("trades2")].cost == Cost(5 * 2 * 1297, 4 * 2 * 1297)
    assert cells[row.format("standard")].cost == Cost(2 * 1297, 2 * 1297)
    for d in ("pgd-at3", "trades2", "standard"):
        r = row.format(d)
        assert cells[f"{r} :: clean"].cost == Cost(40, 0)
        # PGD 5 steps x 2 restarts: (5 F+B + 1 scoring F) per restart, + 1 runner F per example
        assert cells[f"{r} :: pgd5x2 Linf 0.1"].cost == Cost(40 * (2 * 6 + 1), 40 * 2 * 5)
        assert cells[f"{r} :: fgsm Linf 0.1"].cost == Cost(40 * 2, 40)
    train_total = Cost(4 * 2 * 1297 + 5 * 2 * 1297 + 2 * 1297, 4 * 2 * 1297 + 4 * 2 * 1297 + 2 * 1297)
    eval_total = Cost(3 * (40 + 40 * 13 + 80), 3 * (400 + 40))
    assert est.total == train_total + eval_total
    assert all(c.status == "compute" for c in est.cells) and len(est.cells) == 3 * 4
    assert "2 epochs x 1297 ex, batch 64 (42 steps)" in cells[row.format("pgd-at3")].budget


def test_cached_cells_count_zero_and_nothing_is_written(tmp_path):
    from bench.runner.api import run

    wd = tmp_path / "wd"
    assert snapshot(wd) == {}
    est = dry_run(suite([STANDARD], [FGSM], epochs=1), workdir=wd, device="cpu", plugins=PLUGINS,
                  measure_throughput=False)
    assert not wd.exists()  # a dry run does not even create the work directory
    assert est.total == Cost(1297 + 40 + 80, 1297 + 40)

    result = run(suite([STANDARD], [FGSM], epochs=1), workdir=wd, device="cpu", plugins=PLUGINS)
    assert not result.failures
    before = snapshot(wd)
    est = dry_run(suite([STANDARD, PGD_AT3], [FGSM], epochs=1), workdir=wd, device="cpu", plugins=PLUGINS)
    assert snapshot(wd) == before  # same files, same bytes
    status = {c.cell_id: c.status for c in est.cells}
    std, adv = "digits/small-cnn/standard/seed0", "digits/small-cnn/pgd-at3/seed0"
    assert {k: v for k, v in status.items() if k.startswith(std)} == {
        std: "cached", f"{std} :: clean": "cached", f"{std} :: fgsm Linf 0.1": "cached"}
    assert {v for k, v in status.items() if k.startswith(adv)} == {"compute"}
    # only the PGD-AT row counts: training 4 F+B x 1 epoch x 1,297, clean 40 F, FGSM 80 F + 40 B
    assert est.total == Cost(4 * 1297 + 40 + 80, 4 * 1297 + 40)
    cached = [c for c in est.cells if c.status == "cached"]
    assert all(c.cpu_hours == 0 and c.gpu_hours == 0 for c in cached)
    # hours follow the measured throughput: forward and backward seconds per example times the passes
    t = est.throughput["small-cnn"]
    assert t.forward_s > 0 and t.backward_s > 0 and t.forward_flops > 0
    train = by_cell(est)[adv]
    assert train.cpu_hours == pytest.approx((4 * 1297 * t.forward_s + 4 * 1297 * t.backward_s) / 3600)
    assert train.gpu_hours == pytest.approx(4 * 1297 * t.forward_flops * 3 / (est.gpu_tflops * 1e12) / 3600)


def test_pretrained_rows_cost_no_training(tmp_path):
    from safetensors.torch import save_file

    from bench.registry import get_registry
    from bench.runner.models import build_registered

    entry = get_registry(PLUGINS).get("model", "classics/small-cnn")
    ckpt = tmp_path / "m.safetensors"
    save_file({k: v.contiguous() for k, v in build_registered(entry, {}, (1, 8, 8), 10).state_dict().items()}, ckpt)
    s = suite([], [FGSM])
    s.update(models=[], defenses=[], pretrained=[{"label": "mine", "arch": "classics/small-cnn",
                                                  "checkpoint": str(ckpt), "dataset": "core/digits"}])
    est = dry_run(s, workdir=tmp_path / "wd", device="cpu", plugins=PLUGINS, measure_throughput=False)
    cells = by_cell(est)
    assert cells["digits/mine/pretrained/seed0"].cost == Cost()
    assert est.total == Cost(40 + 80, 40)


def test_cli_names_every_cell_and_json_matches(tmp_path):
    toml = tmp_path / "suite.toml"
    toml.write_text('''name = "dry-cli"
integrity = false
seeds = [0]
datasets = [{id = "core/digits"}]
models = [{id = "classics/small-cnn"}]
defenses = [{id = "classics/standard"}, {id = "classics/pgd-at", label = "pgd-at3", params = {norm = "Linf", eps = 0.1, steps = 3, step_size = 0.05}}]
attacks = [{id = "classics/fgsm", norm = "Linf", eps = 0.1}]
probes = [{id = "classics/margin"}]
train = {epochs = 2, batch_size = 64, lr = 0.1}
eval = {n = 40, batch_size = 40}
''')
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    wd = tmp_path / "wd"

    def cli(*extra):
        out = subprocess.run([sys.executable, "-m", "bench.cli.main", "-p", PLUGINS[0], "run", str(toml), "--dry-run",
                              "--workdir", str(wd), "--device", "cpu", *extra], capture_output=True, text=True, env=env,
                             timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    text = cli()
    for row in ("digits/small-cnn/standard/seed0", "digits/small-cnn/pgd-at3/seed0"):
        assert row in text
    for name in ("train", "clean", "fgsm Linf 0.1", "probe margin"):
        assert text.count(f"\n{name} ") == 2, name  # once per row
    assert "measured here" in text and "assumption" in text
    data = json.loads(cli("--json"))
    assert len(data["cells"]) == 8 and data["cells_of_unknown_cost"] == 0
    # standard 2 x 1297 + PGD-AT 4 x 2 x 1297; clean 40 F and FGSM 80 F + 40 B per row; the margin probe
    # one forward per evaluation and training example
    assert data["total"] == {"forward": 10 * 1297 + 2 * 120 + 2 * (40 + 1297), "backward": 10 * 1297 + 2 * 40}
    assert not wd.exists()


def test_bad_gpu_tflops_is_a_usage_error(tmp_path):
    from bench.errors import UsageError

    with pytest.raises(UsageError, match="gpu-tflops"):
        dry_run(suite([STANDARD], [FGSM]), workdir=tmp_path / "wd", device="cpu", plugins=PLUGINS,
                measure_throughput=False, gpu_tflops=0)


def test_undeclared_costs_default_or_unknown(testkit, tmp_path):
    """The test plugin declares no cost: its defense counts as standard training (1 F + 1 B per example
    and epoch), its attack and probe as unknown, left out of the total."""
    from runner_helpers import tiny_suite

    est = dry_run(tiny_suite(integrity=False), workdir=tmp_path / "wd", device="cpu", plugins=testkit,
                  measure_throughput=False)
    cells = by_cell(est)
    row = "digits/tiny-linear/erm/seed0"
    assert (cells[row].cost, cells[row].basis) == (Cost(3 * 300, 3 * 300), "default")  # 3 epochs x 300 examples
    assert cells[f"{row} :: sign Linf 0.1"].counted is None
    assert cells[f"{row} :: probe confidence"].counted is None
    assert est.total == Cost(900 + 60, 900)  # training + the clean cell's 60 forwards
    assert len(est.unknown) == 2


def test_real_datasets_declare_their_sizes_without_files():
    from bench.data.cifar import CIFAR10
    from bench.data.folder import TinyImageNet

    assert CIFAR10.output_sizes(CIFAR10.Config()) == (50000, 10000)
    assert CIFAR10.output_sizes(CIFAR10.Config(n_train=1000, n_test=500)) == (1000, 500)
    assert CIFAR10.output_sizes(CIFAR10.Config(test_ids=[5, 7, 9], n_test=2)) == (50000, 2)  # ids, then n_test
    assert TinyImageNet.output_sizes(TinyImageNet.Config(n_train=200_000)) == (100000, 10000)


def test_probe_costs_get_the_sizes_they_ask_for(tmp_path):
    """A probe whose cost needs more than (n, n_train) gets it by keyword: the integrity probe the attack
    cells at each untargeted threat (2 at Linf 0.1, 1 at L2 0.5), counted in the totals."""
    from robarena_classics.probes.integrity import IntegrityProbe

    spec = suite([STANDARD], [PGD5x2, FGSM, {"id": "classics/pgd", "norm": "L2", "eps": 0.5}])
    spec["integrity"] = True
    est = dry_run(spec, workdir=tmp_path / "wd", device="cpu", plugins=PLUGINS, measure_throughput=False)
    cell = next(c for c in est.cells if c.stage == "probe" and "integrity" in c.name)
    assert cell.basis == "declared"
    expected = IntegrityProbe().cost(N_EVAL, N_TRAIN, attacks_per_threat=(2, 1))
    assert expected is not None and cell.cost == expected
    assert IntegrityProbe().cost(N_EVAL, N_TRAIN) is None  # without the attack cells it cannot tell
