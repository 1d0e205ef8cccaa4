"""The ``recognizability`` plugin (P3): specs only. Implementations are named lazily as ``module:Class``.

This module imports neither torch nor any implementation module, so discovering the plugin
is cheap; the registry imports a target on first use.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import ClaimSpec, DefenseSpec, Paper, ProbeSpec, SuiteSpec, TaskSpec

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
        SuiteSpec(
            name="p3-cpu", version="2", target=f"{PKG}:suites/p3-cpu.toml", paper=P3,
            summary="P3 Fig. 4.1/4.2 on digits: the defenses suite's nine models, PGD-50 x 2/255 profile with "
                    "up to 10 restarts at Linf 0..0.2, Jacobian probe, recognizability grids (512 steps)",
            description="P3's protocol sized for a CPU (about 6 minutes of CPU time on one core); claims: robarena claims p3-cpu.",
        ),
        SuiteSpec(
            name="p3-full", version="2", target=f"{PKG}:suites/p3-full.toml", paper=P3,
            summary="P3 Fig. 4.1/4.2: PreAct ResNet-18 on CIFAR-10, 15 epochs, cyclic LR 0.2, seven defenses plus "
                    "TRADES beta 10000; PGD-50 profile 0..50/255, Jacobian probe, 2048-step recognizability grids",
            description="The full-scale P3 protocol (GPU; needs the CIFAR-10 files).",
        ),
    ]


@hookimpl
def robarena_probes() -> list[ProbeSpec]:
    return [
        ProbeSpec(
            name="jacobian", version="1", target=f"{PKG}.probes.jacobian:JacobianProbe", paper=P3,
            columns=["jacobian_fro", "fisher_jacobian_fro", "jacobian_spectral", "lipschitz_local",
                     "output_spread", "top_class_share"],
            summary="||J||_F and ||F_f^(1/2) J||_F of the logits by random projections (Hoffman et al. 2019 "
                    "Alg. 1), ||J||_2 by power iteration, a finite-difference local Lipschitz estimate "
                    "(P3 Prop. 3.1, Lemma 3.1), and how constant the output is",
        ),
    ]


@hookimpl
def robarena_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            name="recognizability", version="1", target=f"{PKG}.tasks.recognizability:Recognizability", paper=P3,
            columns=["judge_target_rate", "target_success", "judge_clean_accuracy", "rms_change",
                     "start_correlation", "class_consistency"],
            summary="targeted unbounded PGD (2048 steps of 2/255) from shared noise starts toward every class; "
                    "PNG grid (rows = starts, columns = targets), the rate at which an independent "
                    "standard classifier sees the target class, and how much each result resembles its "
                    "start vs its class (P3 Fig. 1.1, 4.2)",
        ),
    ]


#: (name, function in claims.py, statement): P3's claims, checked on p3-cpu and (suffix -full) p3-full.
_CLAIMS = (
    ("robust-perturbations-recognized", "robust_perturbations_recognized",
     "targeted unbounded perturbations of a PGD-AT model are recognized as the target class (by an independent "
     "standard judge) more often than those of a standard model (Fig. 1.1, 4.2)"),
    ("adversarial-training-lowers-jacobian", "adversarial_training_lowers_jacobian",
     "adversarial training (PGD-AT, TRADES beta 6, fast-AT) lowers the Jacobian norm ||J||_F (Sec. 3, Prop. 3.1)"),
    ("trades-beta-10000-constant", "trades_high_beta_constant",
     "TRADES with beta 10000 collapses to a (nearly) constant classifier (Sec. 4.2)"),
    ("smoothness-regularizers-robust", "smoothness_regularizers_robust",
     "smoothness regularizers (gradient and Fisher penalties) are more robust than standard training "
     "(Fig. 4.1; collapsed constant classifiers left out)"),
    ("recognizability-follows-category", "recognizability_follows_category",
     "P3's thesis: perturbations of minimax defenses (PGD-AT, TRADES beta 6, fast-AT) are more recognizable than "
     "those of approximate ones (gradient and Fisher penalties), which are more recognizable than those of "
     "undefended (standard, distilled) and collapsed models (Sec. 4.2, Fig. 4.2; judge of another architecture)"),
    ("robustness-follows-category", "robustness_follows_category",
     "Fig. 4.1's ordering: minimax defenses are more robust than approximate ones, which are more robust than "
     "undefended models (mean profile accuracy; collapsed models left out)"),
    ("clean-accuracy-follows-category", "clean_accuracy_follows_category",
     "Fig. 4.1's clean accuracies: undefended models highest, then minimax, approximate lowest (collapsed left out)"),
)


@hookimpl
def robarena_claims() -> list[ClaimSpec]:
    return [
        ClaimSpec(name=name + suffix, version="2", target=f"{PKG}.claims:{fn}", suite=suite, statement=statement,
                  paper=P3)
        for suffix, suite in (("", "p3-cpu"), ("-full", "p3-full"))
        for name, fn, statement in _CLAIMS
    ]
