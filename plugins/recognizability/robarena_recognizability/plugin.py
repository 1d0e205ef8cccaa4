"""The ``recognizability`` plugin (P3): specs only. Implementations are named lazily as ``module:Class``.

This module imports neither torch nor any implementation module, so discovering the plugin
is cheap; the registry imports a target on first use.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import DefenseSpec, Paper, SuiteSpec

PKG = "robarena_recognizability"

P3 = Paper(
    title="On the Human-Recognizability Phenomenon of Adversarially Trained Deep Image Classifiers",
    authors="J. Helland, N. VanHoudnos", year=2021, key="P3",
)
PAPERNOT2016 = Paper(
    title="Distillation as a Defense to Adversarial Perturbations against Deep Neural Networks",
    authors="N. Papernot, P. McDaniel, X. Wu, S. Jha, A. Swami", year=2016,
    url="https://arxiv.org/abs/1511.04508", key="Papernot2016",
)


@hookimpl
def robarena_defenses() -> list[DefenseSpec]:
    return [
        DefenseSpec(
            name="gradient-penalty", version="1", target=f"{PKG}.defenses.gradient_penalty:GradientPenalty",
            summary="CE + beta eps ||grad_x CE||_q by double backprop, q dual to the adversary's norm "
                    "(P3 Eq. 3.1); defaults Linf (q = 1), eps 8/255, beta 64",
            paper=P3,
        ),
        DefenseSpec(
            name="fisher-penalty", version="1", target=f"{PKG}.defenses.fisher_penalty:FisherPenalty",
            summary="CE + beta eps^2/2 ||F_f^(1/2) J(x)||_F^2 by random projections (P3 Eq. 3.6, App. D; "
                    "Hoffman et al. 2019 Alg. 1); defaults beta 1, eps 8/255, 1 projection",
            paper=P3,
        ),
        DefenseSpec(
            name="distillation", version="1", target=f"{PKG}.defenses.distillation:DefensiveDistillation",
            summary="defensive distillation: teacher at temperature tau, student on its soft labels at tau, "
                    "deployed at 1 (P3 Sec. 4.1: tau = 100)",
            paper=PAPERNOT2016,
        ),
    ]


@hookimpl
def robarena_suites() -> list[SuiteSpec]:
    return [
        SuiteSpec(
            name="defenses", version="1", target=f"{PKG}:suites/defenses.toml",
            summary="digits, SmallCNN, P3's defenses (standard, PGD-AT, TRADES beta 6 and 10000, fast-AT, "
                    "gradient and Fisher penalties, distillation) vs FGSM, PGD-20 and CW-loss PGD at Linf 0.1",
            description="P3 Fig. 4.1's comparison sized for a laptop CPU: real 8x8 digits, a few minutes on 2 cores.",
        ),
    ]
