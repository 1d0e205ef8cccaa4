"""AutoAttack's Square and FAB-T, robarena vs the official package, interleaved and paired (issue 15,
item 9).

The full comparison (``test_autoattack_reference.py``) runs each implementation once, one after
the other; on a machine whose speed drifts between the two runs its ratios carry that drift. Here
the two implementations of one member alternate ``ROBARENA_AA_PAIRED_REPS`` times (default 3) on
the same examples (the PGD-AT digits model's test digits still robust after robarena's APGD-CE,
as in the cascade), process CPU time per run, and each repetition gives one ratio
robarena / official. The summary is the geometric mean of the ratios with a 95 % t interval over
the repetitions (on the log ratios), and the one-sided paired t-test of "robarena is slower"
(scipy). Settings: the standard version's (Square: 5,000 queries, p_init 0.8, schedule not
rescaled; FAB-T: 9 target classes, 100 iterations, 1 restart), Linf 0.1.

Run (docs/performance.md):

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 OMP_NUM_THREADS=1 \\
        python -m pytest tests/benchmarks/test_aa_members_paired.py -m perf -s
"""
from __future__ import annotations

import math
import os
import time

import pytest
import torch

from test_autoattack_reference import SEED, digits_pgdat, official_package  # noqa: F401  (the fixture)

pytestmark = pytest.mark.perf

REPS = int(os.environ.get("ROBARENA_AA_PAIRED_REPS", "3"))


def _robust_after_apgd(model, x, y, threat):
    from robarena_classics.attacks.apgd import APGDCE

    x_adv = APGDCE(seed=SEED)(model, x, y, threat).x_adv
    with torch.no_grad():
        keep = (model(x_adv).argmax(1) == y) & (model(x).argmax(1) == y)
    return x[keep], y[keep]


def _robarena(member, model, x, y, threat):
    from robarena_classics.attacks.fab import FABTargeted
    from robarena_classics.attacks.square import Square

    if member == "square":
        return Square(Square.Config(n_queries=5000, rescale_schedule=False), seed=SEED)(model, x, y, threat).x_adv
    return FABTargeted(FABTargeted.Config(n_target_classes=9), seed=SEED)(model, x, y, threat).x_adv


def _official(member, model, x, y, threat):
    official_package()  # a clear failure when the benchmark extra is not installed
    if member == "square":
        from pyautoattack.square import SquareAttack

        attack = SquareAttack(model, p_init=0.8, n_queries=5000, eps=threat.eps, norm="Linf", n_restarts=1,
                              seed=SEED, verbose=False, device=x.device, resc_schedule=False)
        return attack.perturb(x, y)
    from pyautoattack.fab_pt import FABAttack_PT

    attack = FABAttack_PT(model, n_restarts=1, n_iter=100, eps=threat.eps, seed=SEED, norm="Linf", verbose=False,
                          device=x.device, targeted=True, n_target_classes=9)
    return attack.perturb(x, y)


@pytest.mark.parametrize("member", ["square", "fab-t"])
def test_member_paired_against_official(digits_pgdat, member):
    from scipy import stats

    model, x, y, threat = digits_pgdat
    x, y = _robust_after_apgd(model, x, y, threat)
    ratios, robust = [], {}
    for rep in range(REPS):
        order = ("official", "robarena") if rep % 2 == 0 else ("robarena", "official")  # alternate who goes first
        cpu = {}
        for impl in order:
            fn = _official if impl == "official" else _robarena
            c0 = time.process_time()
            x_adv = fn(member, model, x, y, threat)
            cpu[impl] = time.process_time() - c0
            with torch.no_grad():
                robust[impl] = int((model(x_adv).argmax(1) == y).sum())
        ratios.append(cpu["robarena"] / cpu["official"])
        print(f"\n{member} rep {rep}: robarena {cpu['robarena']:.2f} s, official {cpu['official']:.2f} s "
              f"(ratio {ratios[-1]:.3f}); robust {robust['robarena']} vs {robust['official']} of {len(y)}")
    logs = [math.log(r) for r in ratios]
    mean = sum(logs) / len(logs)
    if len(logs) > 1:
        sd = (sum((v - mean) ** 2 for v in logs) / (len(logs) - 1)) ** 0.5
        half = stats.t.ppf(0.975, len(logs) - 1) * sd / math.sqrt(len(logs))
        p_slower = stats.ttest_1samp(logs, 0.0, alternative="greater").pvalue if sd > 0 else float("nan")
    else:
        half, p_slower = float("nan"), float("nan")
    print(f"{member}: robarena / official CPU time, geometric mean {math.exp(mean):.3f} "
          f"(95 % interval {math.exp(mean - half):.3f} - {math.exp(mean + half):.3f}, {len(logs)} paired runs); "
          f"one-sided p (robarena slower) = {p_slower:.3g}; {len(y)} digits attacked")
    assert all(r > 0 for r in ratios)
