"""The ``classics`` plugin: specs only. Implementations are named lazily as ``module:Class``.

This module imports neither torch nor any implementation module, so discovering the plugin
is cheap; the registry imports a target on first use.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import AttackSpec, DefenseSpec, ModelSpec, Paper, ProbeSpec, SuiteSpec
from robarena_classics import (specs_attacks_autoattack, specs_attacks_fgsm_search, specs_attacks_more,
                               specs_defenses_more, specs_models_zoo, specs_probes_integrity)

# Spec lists contributed by the area modules (one module per area, each owning its own list).
_AREAS = (specs_attacks_autoattack, specs_attacks_fgsm_search, specs_attacks_more, specs_defenses_more,
          specs_models_zoo, specs_probes_integrity)


def _extra(kind: str) -> list:
    return [spec for module in _AREAS for spec in getattr(module, kind, [])]

PKG = "robarena_classics"

MADRY2018 = Paper(
    title="Towards Deep Learning Models Resistant to Adversarial Attacks",
    authors="A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu", year=2018,
    url="https://arxiv.org/abs/1706.06083", key="Madry2018",
)
GOODFELLOW2015 = Paper(
    title="Explaining and Harnessing Adversarial Examples",
    authors="I. J. Goodfellow, J. Shlens, C. Szegedy", year=2015,
    url="https://arxiv.org/abs/1412.6572", key="Goodfellow2015",
)
P1 = Paper(
    title="Towards Understanding the Regularization of Adversarial Robustness on Neural Networks",
    authors="Anonymous (ICLR 2020 submission)", year=2020, key="P1",
)
P3 = Paper(
    title="On the Human-Recognizability Phenomenon of Adversarially Trained Deep Image Classifiers",
    authors="J. Helland, N. VanHoudnos", year=2021, key="P3",
)


@hookimpl
def robarena_models() -> list[ModelSpec]:
    return _extra("MODELS") + [
        ModelSpec(
            name="small-cnn", version="1", target=f"{PKG}.models.small_cnn:SmallCNN",
            summary="two 3x3 convs (32w, 64w) + FC 128; max-pool and 2x2 average pool only for H >= 16",
        ),
        ModelSpec(
            name="linear", version="1", target=f"{PKG}.models.linear:LinearClassifier",
            summary="flatten + one linear layer: the affine baseline with closed-form worst-case attacks",
        ),
    ]


@hookimpl
def robarena_defenses() -> list[DefenseSpec]:
    return _extra("DEFENSES") + [
        DefenseSpec(
            name="standard", version="1", target=f"{PKG}.defenses.standard:Standard",
            summary="cross-entropy training on clean data (P3 Eq. 2.4)", paper=P3,
        ),
        DefenseSpec(
            name="pgd-at", version="1", target=f"{PKG}.defenses.pgd_at:PGDAT",
            summary="Madry PGD adversarial training, Linf or L2; defaults P1: 10 steps of 2/255, eps 8/255",
            paper=MADRY2018,
        ),
    ]


@hookimpl
def robarena_attacks() -> list[AttackSpec]:
    return _extra("ATTACKS") + [
        AttackSpec(
            name="fgsm", version="1", target=f"{PKG}.attacks.fgsm:FGSM",
            summary="one signed (Linf) or normalised (L2) gradient step of length eps",
            paper=GOODFELLOW2015, norms=["Linf", "L2"], targeted=True,
        ),
        AttackSpec(
            # v2: restarts draw full-batch starts; v3: the default step scales with eps
            name="pgd", version="3", target=f"{PKG}.attacks.pgd:PGD",
            summary="PGD with random start, restarts, CE or CW loss, per-example early stop; "
                    "defaults P0: 20 steps of eps/4 (2/255 at 8/255; L2: 2.5 eps/steps)",
            paper=MADRY2018, norms=["Linf", "L2"], targeted=True,
        ),
    ]


@hookimpl
def robarena_probes() -> list[ProbeSpec]:
    return _extra("PROBES") + [
        ProbeSpec(
            name="margin", version="1", target=f"{PKG}.probes.margin:MarginProbe",
            summary="logit margin f_y - max_{i != y} f_i: mean, median, fraction negative, histograms (P1 Def. 3)",
            paper=P1, columns=["mean", "median", "frac_negative"], needs_train=True,
        ),
        ProbeSpec(
            name="generalization", version="1", target=f"{PKG}.probes.generalization:GeneralizationProbe",
            summary="train/test cross-entropy and error and their gaps (P1 Sec. 5.1)",
            paper=P1, columns=["train_loss", "test_loss", "loss_gap", "train_error", "test_error", "error_gap"],
            needs_train=True,
        ),
    ]


@hookimpl
def robarena_suites() -> list[SuiteSpec]:
    return _extra("SUITES") + [
        SuiteSpec(
            name="quick", version="1", target=f"{PKG}:suites/quick.toml",
            summary="digits, SmallCNN, standard vs PGD-AT, FGSM and PGD at Linf 0.1, margin and "
                    "generalization probes; under a minute on 2 CPU cores",
            description="The smoke-test suite: real 8x8 digits end to end on a laptop CPU.",
        ),
    ]
