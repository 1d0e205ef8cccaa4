"""Standard AutoAttack against the authors' code (issue 15, item 9): robarena's
``classics/autoattack`` and the official package (``pyautoattack`` on PyPI, see
docs/performance.md "AutoAttack against the official package") run the standard version on
the same examples, eps and seed, in one benchmark run, on two adversarially trained models:

* ``digits``: SmallCNN on the 8x8 digits, PGD-AT as in the quick suite (Linf 0.1, 5 steps of
  0.05, 10 epochs), first ``N`` test digits, Linf eps 0.1;
* ``gratings``: SmallCNN on the CIFAR-shaped (3x32x32) gratings, classics PGD-AT (Linf 8/255,
  10 steps of 2/255, 4 epochs, as ``gratings_pgdat_cnn``), first ``N`` test images, Linf 8/255.

Per member (APGD-CE, APGD-T, FAB-T, Square) and overall, each implementation records its time,
the number of examples the member attacked (the ones still robust when its turn came), its
floor and the robust accuracy after it. The floor is the member's published budget of passes
on the examples it attacks, converted to seconds with the model's own forward and
forward+backward (gradient w.r.t. the input) times on that same batch (median of ``REPS``),
timed right after that implementation's run (so each side's floor is measured next to its own
run; "floor-adj." is robarena's time over its floor divided by the official package's, the
comparison with the machine's drift between the two sequential runs divided out):

* APGD-CE: 100 iterations x 1 restart of forward+backward,
* APGD-T: 9 target classes x 100 iterations of forward+backward,
* FAB-T: 9 target classes x 100 iterations of forward+backward (the linearisation) plus a
  forward (the success check),
* Square: 5,000 queries, each a forward pass.

(Each APGD run also takes one gradient at its start and FAB one forward: 1 % more, not
counted.) The per-example robust outcomes of the two implementations are compared with the
exact McNemar test (``bench.stats.mcnemar``). Everything lands in pytest-benchmark's
``extra_info`` (saved JSON) and in a table printed after the module.

Run (docs/performance.md; ``ROBARENA_AA_REF_N`` examples per model, default 250):

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 OMP_NUM_THREADS=1 \\
        python -m pytest tests/benchmarks/test_autoattack_reference.py -m perf --benchmark-autosave

The member budgets are checked to be the published ones on both sides before anything runs.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

import pytest
import torch

from bench.threat import ThreatModel

pytestmark = pytest.mark.perf

N = int(os.environ.get("ROBARENA_AA_REF_N", "250"))  # examples per model
REPS = int(os.environ.get("ROBARENA_AA_REF_REPS", "30"))  # timed passes per floor measurement (median)
SEED = 0
MEMBERS = ("apgd-ce", "apgd-t", "fab-t", "square")
IMPLS = ("official", "robarena")  # official first: robarena's entry then carries the comparison

_RESULTS: dict[str, dict[str, dict[str, Any]]] = {}  # model -> impl -> record
_PASS_TIMES: dict[tuple[str, int], dict[str, float]] = {}  # (model, n) -> median pass times


# --------------------------------------------------------------------------- models
def _train(data, shape, defense):
    from bench.api.defense import TrainContext
    from robarena_classics.models.small_cnn import SmallCNN

    ctx = TrainContext(device=torch.device("cpu"), seed=0, generator=torch.Generator().manual_seed(0))
    model = defense(lambda: SmallCNN(shape, 10), data, ctx)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


@pytest.fixture(scope="module")
def digits_pgdat():
    """The quick suite's PGD-AT digits model (Linf 0.1, 5 steps of 0.05, 10 epochs, cosine SGD)."""
    from bench.config import TrainConfig
    from bench.data.digits import Digits
    from robarena_classics.defenses.pgd_at import PGDAT

    data = Digits()()
    defense = PGDAT(PGDAT.Config(norm="Linf", eps=0.1, steps=5, step_size=0.05, random_start=True),
                    train=TrainConfig(epochs=10, batch_size=64, lr=0.1))
    model = _train(data, (1, 8, 8), defense)
    return model, data.x_test[:N], data.y_test[:N], ThreatModel(norm="Linf", eps=0.1)


@pytest.fixture(scope="module")
def gratings_pgdat():
    """The CIFAR-shaped gratings SmallCNN, classics PGD-AT (as conftest's ``gratings_pgdat_cnn``,
    with ``N`` test images)."""
    from bench.config import TrainConfig
    from bench.data.gratings import Gratings32
    from robarena_classics.defenses.pgd_at import PGDAT

    data = Gratings32(Gratings32.Config(n_train=1000, n_test=max(N, 64)))()
    defense = PGDAT(PGDAT.Config(norm="Linf", eps=8 / 255, steps=10, step_size=2 / 255, random_start=True),
                    train=TrainConfig(epochs=4, batch_size=64, lr=0.05))
    model = _train(data, (3, 32, 32), defense)
    return model, data.x_test[:N], data.y_test[:N], ThreatModel(norm="Linf", eps=8 / 255)


# --------------------------------------------------------------------------- budgets and floors
def official_package():
    try:
        import pyautoattack
    except ImportError:
        pytest.fail("this benchmark compares against the official AutoAttack: pip install -e '.[bench]' "
                    "(pyautoattack)")
    return pyautoattack


def published_budgets(adversary) -> dict[str, tuple[int, int]]:
    """(forward+backward passes, forward passes) per attacked example of each standard member,
    read from the official package's standard version (10 classes: 9 target classes)."""
    apgd, apgd_t, fab, square = adversary.apgd, adversary.apgd_targeted, adversary.fab, adversary.square
    return {"apgd-ce": (apgd.n_iter * apgd.n_restarts, 0),
            "apgd-t": (apgd_t.n_iter * apgd_t.n_restarts * apgd_t.n_target_classes, 0),
            "fab-t": (fab.n_iter * fab.n_target_classes, fab.n_iter * fab.n_target_classes),
            "square": (0, square.n_queries * square.n_restarts)}


def robarena_budgets(attack) -> dict[str, tuple[int, int]]:
    """The same, read from robarena's standard members' configs."""
    cfg = {name: member.config for name, member in attack.members()}
    a, t, f, s = cfg["apgd-ce"], cfg["apgd-t"], cfg["fab-t"], cfg["square"]
    return {"apgd-ce": (a.n_iter * a.n_restarts, 0),
            "apgd-t": (t.n_iter * t.n_restarts * t.n_target_classes, 0),
            "fab-t": (f.n_iter * f.restarts * f.n_target_classes, f.n_iter * f.restarts * f.n_target_classes),
            "square": (0, s.n_queries * getattr(s, "n_restarts", 1))}


def pass_fns(model, x: torch.Tensor, y: torch.Tensor) -> tuple[Callable[[], None], Callable[[], None]]:
    """One forward (no grad) and one forward+backward w.r.t. the input (summed cross-entropy) on the
    whole batch ``x``: the two passes a floor is priced with."""
    def fwd():
        with torch.no_grad():
            model(x)

    def fwd_bwd():
        xr = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            loss = torch.nn.functional.cross_entropy(model(xr), y, reduction="sum")
            torch.autograd.grad(loss, xr)
    return fwd, fwd_bwd


def measure_pass_times(model, x: torch.Tensor, y: torch.Tensor, reps: int = REPS, warmup: int = 3) -> dict[str, float]:
    """Median seconds of one forward (no grad) and one forward+backward w.r.t. the input (summed
    cross-entropy) on the batch ``x`` over ``reps`` timings after ``warmup`` untimed ones, wall
    clock (``f``, ``fb``) and process CPU time (``f_cpu``, ``fb_cpu``)."""
    def medians(fn):
        for _ in range(warmup):
            fn()
        wall, cpu = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return sorted(wall)[reps // 2], sorted(cpu)[reps // 2]

    fwd, fwd_bwd = pass_fns(model, x, y)
    (f, f_cpu), (fb, fb_cpu) = medians(fwd), medians(fwd_bwd)
    return {"f": f, "fb": fb, "f_cpu": f_cpu, "fb_cpu": fb_cpu}


def pass_times(key: str, model, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """:func:`measure_pass_times`, cached per (model, batch size)."""
    n = x.shape[0]
    if (key, n) not in _PASS_TIMES:
        _PASS_TIMES[(key, n)] = measure_pass_times(model, x, y)
    return _PASS_TIMES[(key, n)]


# --------------------------------------------------------------------------- the two implementations
class _Timed:
    """Proxy of a robarena member that times its calls and records the batch it attacked."""

    def __init__(self, name: str, attack, log: dict):
        self._name, self._attack, self._log = name, attack, log

    def __getattr__(self, item):
        value = getattr(self._attack, item)
        if item != "attack_active":
            return value

        def attack_active(model, x, y, threat, generator, active):
            t0, c0 = time.perf_counter(), time.process_time()
            out = value(model, x, y, threat, generator, active)
            self._log[self._name] = {"time_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                                     "x": x[active], "y": y[active]}
            return out
        return attack_active

    def __call__(self, model, x, y, threat, *args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = self._attack(model, x, y, threat, *args, **kwargs)
        self._log[self._name] = {"time_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                                 "x": x, "y": y}
        return out


def run_robarena(model, x, y, threat, log: dict) -> torch.Tensor:
    from robarena_classics.attacks.autoattack import AutoAttack

    class TimedAutoAttack(AutoAttack):
        def members(self):
            return [(name, _Timed(name, attack, log)) for name, attack in super().members()]

    return TimedAutoAttack(seed=SEED)(model, x, y, threat).x_adv


def official_adversary(model, threat, device):
    return official_package().AutoAttack(model, norm=threat.norm, eps=threat.eps, version="standard", seed=SEED,
                                         device=device)


def run_official(model, x, y, threat, log: dict) -> torch.Tensor:
    adversary = official_adversary(model, threat, x.device)
    for name, attack in (("apgd-ce", adversary.apgd), ("apgd-t", adversary.apgd_targeted),
                         ("fab-t", adversary.fab), ("square", adversary.square)):
        attack.perturb = _timed_perturb(name, attack.perturb, log)
    x_adv, _ = adversary.run_standard_evaluation(x, y, batch_size=x.shape[0])  # one batch, as robarena
    return x_adv


def _timed_perturb(name: str, perturb: Callable, log: dict) -> Callable:
    def timed(x, y, *args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = perturb(x, y, *args, **kwargs)
        entry = log.setdefault(name, {"time_s": 0.0, "cpu_s": 0.0, "x": [], "y": []})
        entry["time_s"] += time.perf_counter() - t0
        entry["cpu_s"] += time.process_time() - c0
        entry["x"].append(x)
        entry["y"].append(y)
        return out
    return timed


# --------------------------------------------------------------------------- the benchmark
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("model_name", ["digits", "gratings"])
def test_autoattack_vs_official(benchmark, request, model_name, impl):
    """Standard AutoAttack, robarena vs the official package: time, robust accuracy, per-member
    time vs floor, McNemar p-value of the per-example robust outcomes."""
    model, x, y, threat = request.getfixturevalue(f"{model_name}_pgdat")
    from robarena_classics.attacks.autoattack import AutoAttack

    budgets = published_budgets(official_adversary(model, threat, x.device))
    ours = robarena_budgets(AutoAttack(seed=SEED))
    assert ours == budgets, f"robarena's standard members' budgets {ours} differ from the published {budgets}"

    benchmark.group = f"autoattack-official-{model_name}"
    log: dict = {}
    fn = run_official if impl == "official" else run_robarena
    clocks: list[tuple[float, float]] = []

    def timed_run():
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(model, x, y, threat, log)
        clocks.append((time.perf_counter() - t0, time.process_time() - c0))
        return out

    x_adv = benchmark.pedantic(timed_run, rounds=1, iterations=1)
    total_s, total_cpu_s = clocks[-1]

    with torch.no_grad():
        clean = model(x).argmax(1) == y
        robust = (model(x_adv).argmax(1) == y) & clean
    perturbation = (x_adv - x).abs().flatten(1).amax(1).max().item()
    assert perturbation <= threat.eps + 1e-6, f"{impl} left the Linf ball: {perturbation} > {threat.eps}"
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0

    members: dict[str, dict[str, Any]] = {}
    remaining = int(clean.sum())
    attacked = []
    for name in MEMBERS:
        entry = log.get(name)
        if entry is None:  # nothing left to attack
            members[name] = {"n": 0, "time_s": 0.0, "floor_s": 0.0, "vs_floor": None, "cpu_s": 0.0,
                             "cpu_floor_s": 0.0, "cpu_vs_floor": None}
            attacked.append(0)
            continue
        xs = torch.cat(entry["x"]) if isinstance(entry["x"], list) else entry["x"]
        ys = torch.cat(entry["y"]) if isinstance(entry["y"], list) else entry["y"]
        # timed now, right after this implementation's run: each side's floor is measured next to its own
        # run, so a machine that speeds up or slows down between the two runs shifts neither ratio
        t = pass_times(f"{model_name}/{impl}", model, xs, ys)
        fb, f = budgets[name]
        floor_s, cpu_floor_s = fb * t["fb"] + f * t["f"], fb * t["fb_cpu"] + f * t["f_cpu"]
        members[name] = {"n": int(xs.shape[0]), "time_s": round(entry["time_s"], 3), "floor_s": round(floor_s, 3),
                         "vs_floor": round(entry["time_s"] / floor_s, 3), "cpu_s": round(entry["cpu_s"], 3),
                         "cpu_floor_s": round(cpu_floor_s, 3), "cpu_vs_floor": round(entry["cpu_s"] / cpu_floor_s, 3),
                         "fwd_ms": round(t["f"] * 1e3, 3), "fwd_bwd_ms": round(t["fb"] * 1e3, 3),
                         "budget_fwd_bwd": fb, "budget_fwd": f}
        attacked.append(int(xs.shape[0]))
    # robust count after each member = what the next one attacked; after the last: the final count
    after = attacked[1:] + [int(robust.sum())]
    for name, n_after in zip(MEMBERS, after):
        members[name]["robust_after"] = n_after
    assert attacked[0] in (remaining, 0)

    record = {"impl": impl, "model": model_name, "n": int(x.shape[0]), "eps": round(threat.eps, 6),
              "clean": int(clean.sum()), "robust": int(robust.sum()),
              "robust_acc": round(float(robust.double().mean()), 4), "total_s": round(total_s, 3),
              "total_cpu_s": round(total_cpu_s, 3),
              "members_s": round(sum(m["time_s"] for m in members.values()), 3), "members": members,
              "robust_mask": robust.cpu(), "extra_info": benchmark.extra_info}
    _RESULTS.setdefault(model_name, {})[impl] = record
    benchmark.extra_info.update({k: v for k, v in record.items() if k not in ("robust_mask", "extra_info")})

    other = _RESULTS[model_name].get("official" if impl == "robarena" else "robarena")
    if other is not None:
        from bench.stats import mcnemar

        ra, of = (record, other) if impl == "robarena" else (other, record)
        test = mcnemar(ra["robust_mask"].numpy(), of["robust_mask"].numpy())
        comparison = {"mcnemar_p": round(test.p_value, 6), "robust_only_robarena": test.b10,
                      "robust_only_official": test.b01,
                      "time_vs_official": round(ra["total_s"] / of["total_s"], 3),
                      "cpu_vs_official": round(ra["total_cpu_s"] / of["total_cpu_s"], 3),
                      "members_vs_official": {m: (round(ra["members"][m]["time_s"] / of["members"][m]["time_s"], 3)
                                                  if of["members"][m]["time_s"] else None) for m in MEMBERS},
                      # each side's time over its own floor, robarena's over the official package's: the
                      # comparison with the machine's drift between the two runs divided out
                      "members_floor_ratio_vs_official": {
                          m: (round(ra["members"][m]["vs_floor"] / of["members"][m]["vs_floor"], 3)
                              if ra["members"][m]["vs_floor"] and of["members"][m]["vs_floor"] else None)
                          for m in MEMBERS}}
        for rec in (ra, of):
            rec["extra_info"]["comparison"] = comparison
            rec["comparison"] = comparison

    from benchmark_helpers import add_summary

    add_summary(request.config, f"AutoAttack (standard) vs the official package (pyautoattack), first {N} test "
                f"examples per model", summary_lines())


def summary_lines() -> list[str]:
    """The table printed at the end of the run (conftest's terminal summary): wall-clock seconds,
    the floor and the ratio to it, the same on process CPU time, the robust count after each
    member, and robarena's wall time over the official package's."""
    lines = [f"{'model':9} {'impl':9} {'member':8} {'n':>4} {'wall s':>8} {'floor s':>8} {'x floor':>7} "
             f"{'cpu s':>8} {'x floor':>7} {'robust':>6} {'vs official':>11} {'floor-adj.':>10}"]
    for model_name, by_impl in _RESULTS.items():
        for impl in IMPLS:
            rec = by_impl.get(impl)
            if rec is None:
                continue
            cmp = rec.get("comparison", {})
            for name in MEMBERS:
                m = rec["members"][name]
                vs = cmp.get("members_vs_official", {}).get(name) if impl == "robarena" else None
                adj = cmp.get("members_floor_ratio_vs_official", {}).get(name) if impl == "robarena" else None
                lines.append(f"{model_name:9} {impl:9} {name:8} {m['n']:4d} {m['time_s']:8.2f} {m['floor_s']:8.2f} "
                             f"{(m['vs_floor'] or 0):7.2f} {m['cpu_s']:8.2f} {(m['cpu_vs_floor'] or 0):7.2f} "
                             f"{m['robust_after']:6d} {(f'{vs:.2f}x' if vs else ''):>11} "
                             f"{(f'{adj:.2f}x' if adj else ''):>10}")
            vs = f"{cmp['time_vs_official']:.2f}x" if cmp and impl == "robarena" else ""
            lines.append(f"{model_name:9} {impl:9} {'total':8} {rec['n']:4d} {rec['total_s']:8.2f} {'':8} {'':7} "
                         f"{rec['total_cpu_s']:8.2f} {'':7} {rec['robust']:6d} {vs:>11}   (clean {rec['clean']})")
        cmp = next((r["comparison"] for r in by_impl.values() if "comparison" in r), None)
        if cmp:
            lines.append(f"{model_name:9} exact McNemar p = {cmp['mcnemar_p']:.4g} (robust only under robarena: "
                         f"{cmp['robust_only_robarena']}, only under the official package: "
                         f"{cmp['robust_only_official']})")
    return lines
