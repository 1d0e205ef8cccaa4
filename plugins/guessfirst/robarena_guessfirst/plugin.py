"""The ``guessfirst`` plugin (P4): specs only. Implementations are named lazily as ``module:Class``.

This module imports neither torch nor any implementation module.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import ClaimSpec, DefenseSpec, ModelSpec, Paper, ProbeSpec, SuiteSpec

PKG = "robarena_guessfirst"

P4 = Paper(
    title="Guess First to Enable Better Compression and Adversarial Robustness",
    key="P4",  # authors, year and address are not in the project's copy of the paper
)
ALEMI2017 = Paper(
    title="Deep Variational Information Bottleneck",
    authors="A. A. Alemi, I. Fischer, J. V. Dillon, K. Murphy", year=2017,
    url="https://arxiv.org/abs/1612.00410", key="Alemi2017",
)

_GF = f"{PKG}.defenses.guess_first"


@hookimpl
def robarena_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="cnn", version="1", target=f"{PKG}.models.cnn:GuessFirstCNN", paper=P4, min_size=8,
            summary="P4 CNN: conv 32 and 64 (4x4, stride 2, pad 1) with batch norm, FC 512-256-128, ReLU, linear head",
        ),
    ]


@hookimpl
def robarena_defenses() -> list[DefenseSpec]:
    note = ("label-hypothesis net (one-hot y after conv 2, FC 512-256-128-1), logits = [T(x, y)]_y; ")
    return [
        DefenseSpec(name="c-js", version="1", target=f"{_GF}:CJS", paper=P4,
                    summary=note + "JS objective with sigmoid output (P4 Eq. 2)"),
        DefenseSpec(name="c-dv", version="1", target=f"{_GF}:CDV", paper=P4,
                    summary=note + "Donsker-Varadhan objective (P4 Eq. 4)"),
        DefenseSpec(name="c-energy", version="1", target=f"{_GF}:CEnergy", paper=P4,
                    summary=note + "energy-based objective = CE on the hypothesis scores (P4 Eq. 5-6)"),
        # v2: the MMD against the pooled marginal (was the class-balanced mean)
        DefenseSpec(name="c-js-ie", version="2", target=f"{_GF}:CJSIE", paper=P4,
                    summary="C-JS + MMD information elimination at FC 2, summed over hypotheses (P4 Sec. 2.3); "
                            "lambda 0.05, median-heuristic bandwidth"),
        # v2: the MMD against the pooled marginal (was the class-balanced mean)
        DefenseSpec(name="c-dv-ie", version="2", target=f"{_GF}:CDVIE", paper=P4,
                    summary="C-DV + MMD information elimination at FC 2, summed over hypotheses (P4 Sec. 2.3); "
                            "lambda 0.05, median-heuristic bandwidth"),
        DefenseSpec(name="vib", version="1", target=f"{PKG}.defenses.vib:VIB", paper=ALEMI2017,
                    summary="variational information bottleneck after FC 2 (mean + softplus-std heads), "
                            "KL to N(0, I), beta 1e-3; evaluates the mean (deterministic)"),
    ]


@hookimpl
def robarena_probes() -> list[ProbeSpec]:
    return [
        ProbeSpec(
            # v2: the MMD against the pooled marginal (was the class-balanced mean)
            name="mmd-label-info", version="2", target=f"{PKG}.probes.mmd_label_info:MMDLabelInfo", paper=P4,
            columns=["label_mmd"],
            summary="label-information surrogate: mean over classes of Gaussian MMD^2(P_R|c, P_R) (P_R the pooled "
                    "sample) at FC 2 of label-hypothesis nets (mean over hypotheses) or at features(x)",
        ),
        ProbeSpec(
            name="heldout-label-info", version="1", target=f"{PKG}.probes.heldout_label_info:HeldoutLabelInfo",
            paper=P4, columns=["label_info", "probe_ce", "prior_ce", "probe_accuracy"],
            summary="label information I(R; Y) in nats as H(Y) - CE of a cross-fitted logistic probe (Barber-Agakov "
                    "bound, 5 folds, ridge chosen inside each fit) at FC 2 of label-hypothesis nets (mean over hypotheses) or at "
                    "features(x); independent of the IE regularizer's MMD",
        ),
    ]


@hookimpl
def robarena_suites() -> list[SuiteSpec]:
    return [
        SuiteSpec(
            name="p4-cpu", version="3", target=f"{PKG}:suites/p4-cpu.toml", paper=P4,
            summary="8x8 digits: P4 CNN, C-DV, C-JS, C-DV-IE and C-JS-IE at lambda 0.01 / 0.03 / 0.1, VIB; white-box "
                    "and transfer FGSM / PGD-40 at Linf 0.15 and 0.3, FGSM minimal-step search, C&W L2 0.57, "
                    "label-information probes",
            description="A CPU-sized version of P4 Table 1 on the bundled 8x8 digits.",
        ),
        SuiteSpec(
            name="p4-full", version="2", target=f"{PKG}:suites/p4-full.toml", paper=P4,
            summary="P4 Tables 1-2: MNIST and Fashion-MNIST, six models, Adam 1e-3, 200 epochs, batch 250; "
                    "white-box and transfer FGSM / PGD at Linf 0.15 and 0.3",
            description="The full-scale P4 protocol (GPU; needs the MNIST and Fashion-MNIST files).",
        ),
    ]


#: (name, version, function in claims.py, statement): P4's claims, checked on p4-cpu and (suffix -full) p4-full.
#: v2 (issue 16): worst-case column, held-out label information, the lambda grid.
_CLAIMS = (
    ("cjsie-more-robust-white-box", "2", "cjsie_more_robust_white_box",
     "C-JS-IE is more robust than the CNN baseline (Table 1), on the worst case over all attacks at every Linf radius"),
    ("ie-lowers-label-information", "2", "ie_lowers_label_information",
     "information elimination lowers the label information of the FC 2 representation, measured by a held-out "
     "probe (C-DV-IE < C-DV, C-JS-IE < C-JS; Sec. 2.3)"),
    ("hypothesis-models-keep-clean-accuracy", "2", "hypothesis_models_keep_clean_accuracy",
     "label-hypothesis classifiers keep the CNN's clean accuracy (within 2 points; Sec. 3.1)"),
    ("black-box-robustness-gains", "2", "black_box_robustness_gains",
     "all four label-hypothesis classifiers are more robust than the CNN under every black-box "
     "(transfer) attack (Sec. 3.1)"),
    ("ie-models-beat-vib", "1", "ie_models_beat_vib",
     "C-DV-IE and C-JS-IE are more robust than VIB (Alemi et al.) at every threat, on the worst case over "
     "all attacks (Sec. 3.1, Tables 1-2)"),
    ("cw-dv-models-more-robust", "1", "cw_dv_models_more_robust",
     "under white-box C&W L2, C-DV and C-DV-IE are more robust than the CNN, C-JS and C-JS-IE (Sec. 3.1)"),
)


@hookimpl
def robarena_claims() -> list[ClaimSpec]:
    return [
        ClaimSpec(name=name + suffix, version=version, target=f"{PKG}.claims:{fn}", suite=suite, statement=statement,
                  paper=P4)
        for suffix, suite in (("", "p4-cpu"), ("-full", "p4-full"))
        for name, version, fn, statement in _CLAIMS
    ]
