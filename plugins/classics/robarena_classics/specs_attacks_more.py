"""Specs for CW-L2, minimal-perturbation attacks, unbounded PGD, EOT and transfer. Lists of specs only: no torch import."""
from __future__ import annotations

from bench.specs import AttackSpec, Paper

PKG = "robarena_classics"

CARLINI2017 = Paper(
    title="Towards Evaluating the Robustness of Neural Networks",
    authors="N. Carlini, D. Wagner", year=2017, url="https://arxiv.org/abs/1608.04644", key="Carlini2017",
)
MOOSAVI2016 = Paper(
    title="DeepFool: a simple and accurate method to fool deep neural networks",
    authors="S.-M. Moosavi-Dezfooli, A. Fawzi, P. Frossard", year=2016,
    url="https://arxiv.org/abs/1511.04599", key="MoosaviDezfooli2016",
)
CROCE2020 = Paper(
    title="Minimally distorted Adversarial Examples with a Fast Adaptive Boundary Attack",
    authors="F. Croce, M. Hein", year=2020, url="https://arxiv.org/abs/1907.02044", key="Croce2020FAB",
)
ATHALYE2018 = Paper(
    title="Obfuscated Gradients Give a False Sense of Security: Circumventing Defenses to Adversarial Examples",
    authors="A. Athalye, N. Carlini, D. Wagner", year=2018, url="https://arxiv.org/abs/1802.00420",
    key="Athalye2018",
)
P3 = Paper(
    title="On the Human-Recognizability Phenomenon of Adversarially Trained Deep Image Classifiers",
    authors="J. Helland, N. VanHoudnos", year=2021, key="P3",
)

ATTACKS: list = [
    AttackSpec(
        name="cw-l2", version="2", target=f"{PKG}.attacks.cw:CWL2",  # v2: the reference's batch-level abort
        summary="Carlini-Wagner L2: tanh box, Adam lr 0.01, binary search on c (9 steps from 1e-3), "
                "kappa 0, batch-level early abort as the reference; smallest successful distance per example, inf and the clean "
                "input on failure or beyond eps (P4: eps 2.0)",
        paper=CARLINI2017, norms=["L2"], targeted=True, minimal=True,
    ),
    AttackSpec(
        name="deepfool", version="1", target=f"{PKG}.attacks.deepfool:DeepFool",
        summary="DeepFool, L2 or Linf: iterated linearised nearest-boundary steps, overshoot 0.02, "
                "50 iterations, all classes; per-example distance (P1's instance-space margin)",
        paper=MOOSAVI2016, norms=["Linf", "L2"], minimal=True,
    ),
    AttackSpec(
        name="fab", version="1", target=f"{PKG}.attacks.fab:FAB",
        summary="FAB, L2 or Linf: biased projections onto the nearest linearised boundary with "
                "backward steps; alpha_max 0.1, eta 1.05, beta 0.9, 100 iterations, 1 restart; "
                "per-example distance (P1's instance-space margin)",
        paper=CROCE2020, norms=["Linf", "L2"], minimal=True,
    ),
    AttackSpec(
        name="fab-t", version="1", target=f"{PKG}.attacks.fab:FABTargeted",
        summary="FAB-T (AutoAttack's standard member): FAB against the boundary of each of the 9 "
                "most likely other classes in turn, on the examples not yet fooled; untargeted success",
        paper=CROCE2020, norms=["Linf", "L2"], minimal=True,
    ),
    AttackSpec(
        name="pgd-unbounded", version="1", target=f"{PKG}.attacks.pgd_unbounded:UnboundedPGD",
        summary="eps = inf PGD: 2048 signed steps of 2/255 from uniform noise, box only, targeted "
                "(P3 Sec. 4) or untargeted; an undefended model must fall to ~0 %",
        paper=P3, norms=["unbounded"], targeted=True,
    ),
    AttackSpec(
        name="pgd-eot", version="2", target=f"{PKG}.attacks.eot:PGDEOT",  # v2: the default step scales with eps
        summary="PGD with Expectation over Transformation for randomized defenses: each step sums "
                "20 stochastic gradients; PGD defaults of P0 (20 steps of eps/4; L2: 2.5 eps/steps)",
        paper=ATHALYE2018, norms=["Linf", "L2"], targeted=True,
    ),
]
DEFENSES: list = []
MODELS: list = []
PROBES: list = []
SUITES: list = []
