"""AutoAttack's standard members, robarena vs the official package, interleaved, paired, and each
against its in-run floor (issue 15, item 9).

The full comparison (``test_autoattack_reference.py``) runs each implementation once, one after
the other, and prices each member's floor with passes timed after the run; on a machine whose
speed drifts by more than the margins tested, its ratios carry the drift. Here, per model
(``digits``, ``gratings``: the same PGD-AT models and eps as there) and per member:

* the two implementations alternate ``ROBARENA_AA_PAIRED_REPS`` times (default 3; who goes first
  alternates) on the same examples, the batch the member gets in the cascade: APGD-CE the
  clean-correct ones, APGD-T those still robust after robarena's APGD-CE, FAB-T and Square those
  still robust after its APGD-T too;
* every run is timed in process CPU seconds under a :class:`bench.testing.pass_clock.PassClock`,
  which also prices the member's published budget of passes (APGD-CE 100 and APGD-T 9 x 100
  forward+backward, FAB-T 9 x 100 forward+backward plus 9 x 100 forward, Square 5,000 forward, per
  attacked example) at what those passes cost **in that same run**: the **in-run floor**. Time over
  it ("x floor") does not move with the machine's speed; it is the work besides the budgeted passes
  plus any pass beyond them (below 1 when examples fooled early leave part of the budget unspent).
  Time over the passes the run actually made ("x passes", :attr:`PassClock.model_s`) is the same
  without the budget: the work outside the model. The classical floor ("x timed"), the budget
  priced with passes timed on their own on the same batch just before and just after the run,
  is shown beside them (it carries whatever drift happens between those timings and the run);
* each repetition gives one ratio robarena / official; the summary is their geometric mean with a
  95 % t interval on the log ratios and the one-sided paired t-test of "robarena is slower" (scipy).

Checked, not only measured: both implementations stay in the eps ball and in [0, 1], and
robarena's members make no more passes than their budget (plus the one gradient or forward each
takes at its start).

Run (docs/performance.md; ``ROBARENA_AA_PAIRED_MODELS`` and ``ROBARENA_AA_PAIRED_MEMBERS``,
comma-separated, pick a subset):

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 ROBARENA_AA_PAIRED_REPS=3 \\
        OMP_NUM_THREADS=1 python -m pytest tests/benchmarks/test_aa_members_paired.py -m perf -s
"""
from __future__ import annotations

import math
import os
import statistics

import pytest
import torch

from bench.testing.pass_clock import PassClock
from test_autoattack_reference import (  # noqa: F401  (fixtures)
    N, SEED, digits_pgdat, gratings_pgdat, measure_pass_times, official_adversary, published_budgets,
    robarena_budgets)

pytestmark = pytest.mark.perf

REPS = int(os.environ.get("ROBARENA_AA_PAIRED_REPS", "3"))
MODELS = os.environ.get("ROBARENA_AA_PAIRED_MODELS", "digits,gratings").split(",")
MEMBERS = os.environ.get("ROBARENA_AA_PAIRED_MEMBERS", "apgd-ce,apgd-t,fab-t,square").split(",")
TARGET_VS_FLOOR = 1.15  # the target: every member within 1.15x of its floor

_SUMMARY: list[str] = []


def _batch(model, x, y, threat, member):
    """The examples ``member`` attacks in the cascade: the clean-correct ones for APGD-CE, those still
    robust after robarena's APGD-CE for APGD-T, and after its APGD-T too for FAB-T and Square."""
    from robarena_classics.attacks.apgd import APGDCE, APGDT

    with torch.no_grad():
        keep = model(x).argmax(1) == y
    for name, attack in (("apgd-ce", APGDCE(seed=SEED)), ("apgd-t", APGDT(seed=SEED))):
        if member == name:
            break
        x_adv = attack(model, x, y, threat).x_adv
        with torch.no_grad():
            keep &= model(x_adv).argmax(1) == y
    return x[keep], y[keep]


def _robarena(member):
    from robarena_classics.attacks.autoattack import AutoAttack

    attack = dict(AutoAttack(seed=SEED).members())[member]  # exactly the standard version's member
    return lambda model, x, y, threat: attack(model, x, y, threat).x_adv


def _official(member):
    def run(model, x, y, threat):
        adversary = official_adversary(model, threat, x.device)
        adversary.apgd.loss, adversary.fab.targeted = "ce", True  # as run_standard_evaluation sets them
        attack = {"apgd-ce": adversary.apgd, "apgd-t": adversary.apgd_targeted, "fab-t": adversary.fab,
                  "square": adversary.square}[member]
        attack.seed = SEED
        return attack.perturb(x, y)
    return run


def _interval(logs):
    from scipy import stats

    mean = sum(logs) / len(logs)
    if len(logs) < 2:
        return math.exp(mean), float("nan"), float("nan"), float("nan")
    sd = statistics.stdev(logs)
    half = stats.t.ppf(0.975, len(logs) - 1) * sd / math.sqrt(len(logs))
    p = stats.ttest_1samp(logs, 0.0, alternative="greater").pvalue if sd > 0 else float("nan")
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half), p


@pytest.mark.parametrize("member", MEMBERS)
@pytest.mark.parametrize("model_name", MODELS)
def test_member_paired_against_official(request, model_name, member):
    model, x, y, threat = request.getfixturevalue(f"{model_name}_pgdat")
    from robarena_classics.attacks.autoattack import AutoAttack

    budgets = published_budgets(official_adversary(model, threat, x.device))
    assert robarena_budgets(AutoAttack(seed=SEED)) == budgets, "the members' budgets differ from the published ones"
    fb, f = budgets[member]
    x, y = _batch(model, x, y, threat, member)
    n = int(y.shape[0])
    if n == 0:
        pytest.fail(f"{model_name}: no example left for {member}; raise ROBARENA_AA_REF_N")
    runs = {"robarena": [], "official": []}
    for rep in range(REPS):
        order = ("official", "robarena") if rep % 2 == 0 else ("robarena", "official")
        for impl in order:
            fn = (_official if impl == "official" else _robarena)(member)
            before = measure_pass_times(model, x, y, reps=7, warmup=1)
            with PassClock(model) as clock:
                x_adv = fn(model, x, y, threat)
            after = measure_pass_times(model, x, y, reps=7, warmup=1)
            # the classical floor: the budget priced with passes timed on their own, just before and after
            timed_floor = (fb * (before["fb_cpu"] + after["fb_cpu"]) + f * (before["f_cpu"] + after["f_cpu"])) / 2
            x_adv = x_adv.detach()
            assert float((x_adv - x).abs().max()) <= threat.eps + 1e-6 and 0.0 <= float(x_adv.min())
            assert float(x_adv.max()) <= 1.0
            with torch.no_grad():
                robust = int((model(x_adv).argmax(1) == y).sum())
            runs[impl].append({"cpu_s": clock.cpu_s, "floor_s": clock.floor_s(fb=fb * n, f=f * n),
                               "model_s": clock.model_s, "timed_floor_s": timed_floor,
                               "fb": clock.backward / n, "f": clock.plain_forward / n, "robust": robust})
            r = runs[impl][-1]
            print(f"\n{model_name} {member} rep {rep} {impl:8}: {r['cpu_s']:7.2f} s CPU, in-run floor "
                  f"{r['floor_s']:7.2f} s (x{r['cpu_s'] / r['floor_s']:.3f}), in its passes {r['model_s']:7.2f} s "
                  f"(x{r['cpu_s'] / r['model_s']:.3f}), timed floor {timed_floor:7.2f} s "
                  f"(x{r['cpu_s'] / timed_floor:.3f}), passes per example "
                  f"{r['fb']:.0f} fwd+bwd + {r['f']:.0f} fwd, robust {robust} of {n}")
    # no pass beyond the budget: one start gradient per APGD run, one ranking forward per attack
    starts_fb = 9 if member == "apgd-t" else (1 if member == "apgd-ce" else 0)
    for r in runs["robarena"]:
        assert r["fb"] <= fb + starts_fb and r["f"] <= f + 1 + (fb > 0), (member, r)

    pairs = zip(runs["robarena"], runs["official"])
    ratio, lo, hi, p = _interval([math.log(a["cpu_s"] / b["cpu_s"]) for a, b in pairs])
    floor_ratio, floor_lo, floor_hi, _ = _interval([math.log(r["cpu_s"] / r["floor_s"]) for r in runs["robarena"]])

    def over(impl, key):  # time over ``key`` per run, sorted
        return sorted(r["cpu_s"] / r[key] for r in runs[impl])

    def median_range(values):
        return f"{statistics.median(values):6.3f} ({values[0]:.3f}-{values[-1]:.3f})"

    line = (f"{model_name:8} {member:7} {n:4d} "
            f"{median_range(over('robarena', 'floor_s'))} {median_range(over('official', 'floor_s'))} "
            + " ".join(f"{statistics.median(over(impl, key)):6.3f}" for key in ("model_s", "timed_floor_s")
                       for impl in ("robarena", "official"))
            + f" {ratio:6.3f} ({lo:.3f}-{hi:.3f}) {p:7.3g}  "
            f"{statistics.mean(r['robust'] for r in runs['robarena']):6.1f} "
            f"{statistics.mean(r['robust'] for r in runs['official']):6.1f}")
    _SUMMARY.append(line)
    print(f"\n{model_name} {member}: robarena x in-run floor, geometric mean {floor_ratio:.3f} ({floor_lo:.3f}-"
          f"{floor_hi:.3f}), target {TARGET_VS_FLOOR}; robarena / official {ratio:.3f} ({lo:.3f}-{hi:.3f}), "
          f"one-sided p (robarena slower) {p:.3g}; {REPS} paired runs on {n} examples")

    from benchmark_helpers import add_summary

    head = (f"{'model':8} {'member':7} {'n':>4} {'robarena x floor (range)':>24} {'official x floor (range)':>24} "
            f"{'x passes r':>10} {'x passes o':>10} {'x timed r':>9} {'x timed o':>9} "
            f"{'robarena/official (95 %)':>24} {'p slower':>8} "
            f"{'robust r':>8} {'robust o':>8}")
    add_summary(request.config, f"AutoAttack members, robarena vs official: interleaved, {REPS} paired runs, "
                f"CPU time over each run's in-run floor (first {N} test examples per model)", [head, *_SUMMARY])
