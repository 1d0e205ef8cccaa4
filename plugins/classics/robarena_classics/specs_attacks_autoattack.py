"""Specs for APGD-CE/DLR/targeted, Square and the AutoAttack-style ensemble. Lists of specs only: no torch import."""
from __future__ import annotations

from bench.specs import AttackSpec, Paper

PKG = "robarena_classics.attacks"

CROCE2020 = Paper(
    title="Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks",
    authors="F. Croce, M. Hein", year=2020, url="https://arxiv.org/abs/2003.01690", key="Croce2020",
)
ANDRIUSHCHENKO2020 = Paper(
    title="Square Attack: a query-efficient black-box adversarial attack via random search",
    authors="M. Andriushchenko, F. Croce, N. Flammarion, M. Hein", year=2020,
    url="https://arxiv.org/abs/1912.00049", key="Andriushchenko2020",
)

ATTACKS: list = [
    AttackSpec(
        name="apgd-ce", version="1", target=f"{PKG}.apgd:APGDCE", paper=CROCE2020, norms=["Linf", "L2"],
        summary="Auto-PGD on cross-entropy: step 2 eps halved at checkpoints, momentum 0.75, restarts from the "
                "best point; 100 iterations, 1 restart",
    ),
    AttackSpec(
        name="apgd-dlr", version="1", target=f"{PKG}.apgd:APGDDLR", paper=CROCE2020, norms=["Linf", "L2"],
        summary="Auto-PGD on the shift- and scale-invariant DLR loss (>= 3 classes); 100 iterations, 1 restart",
    ),
    AttackSpec(
        name="apgd-t", version="1", target=f"{PKG}.apgd:APGDT", paper=CROCE2020, norms=["Linf", "L2"],
        summary="Auto-PGD on the targeted DLR loss toward the 9 most likely other classes (>= 4 classes), "
                "untargeted success; 100 iterations, 1 restart per target",
    ),
    AttackSpec(
        name="square", version="1", target=f"{PKG}.square:Square", paper=ANDRIUSHCHENKO2020, norms=["Linf", "L2"],
        needs_gradients=False,
        summary="Square Attack: score-based random search with square updates, margin loss, p_init 0.8, "
                "5000 queries (no gradients)",
    ),
    AttackSpec(
        # v3: standard Square keeps the 10,000-iteration p schedule (not rescaled), as the reference
        name="autoattack", version="3", target=f"{PKG}.autoattack:AutoAttack", paper=CROCE2020,
        norms=["Linf", "L2"],
        summary="AutoAttack ensemble on still-robust points: standard = APGD-CE, APGD-T, FAB-T, Square "
                "(the published version); rand = APGD-CE, APGD-DLR with EOT 20",
    ),
]
DEFENSES: list = []
MODELS: list = []
PROBES: list = []
SUITES: list = []
