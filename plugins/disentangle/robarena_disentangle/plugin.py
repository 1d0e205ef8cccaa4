"""The ``disentangle`` plugin (P0): specs only. Implementations are named lazily as ``module:Class``.

This module imports neither torch nor any implementation module.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import ClaimSpec, Paper, ProbeSpec, SuiteSpec

PKG = "robarena_disentangle"

P0 = Paper(
    title="Towards Disentangling Non-Robust and Robust Components in Performance Metric",
    year=2020, key="P0",  # anonymous ICLR 2020 submission; authors are not in the project's copy
)

_PROBES = f"{PKG}.probes"
_CHECKS = f"{PKG}.claims"


@hookimpl
def robarena_probes() -> list[ProbeSpec]:
    return [
        ProbeSpec(name="cckl", version="1", target=f"{_PROBES}.cckl:CCKL", paper=P0,
                  columns=["cckl", "cckl_median"],
                  summary="Cross Category KL: mean KL(f(x_i) || f(x_j)) over sampled test pairs with y_i != y_j "
                          "(P0 Eq. 2; 25,896 pairs)"),
        ProbeSpec(name="input-fisher", version="1", target=f"{_PROBES}.input_fisher:InputFisher", paper=P0,
                  columns=["fnorm_mean", "log_fnorm_mean", "fnorm_median", "trace_mean", "spectral_mean",
                           "power_rel_error"],
                  summary="input Fisher information (P0 Eq. 9): exact F-norm and trace from L VJPs, spectral norm "
                          "and leading eigenvector by JVP/VJP power iteration"),
        ProbeSpec(name="g1g2", version="1", target=f"{_PROBES}.g1g2:G1G2", paper=P0,
                  columns=["kl_mean", "g1_mean", "g2_mean", "g2_over_kl_mean", "g2_over_kl_median"],
                  summary="KL = G1 + G2 over different-class pairs: G1 = 1/2 eta^T F eta by one JVP, G2 = KL - G1 "
                          "(P0 Eq. 14-16, Fig. 5)"),
        # version 2: the direction comes from a PGD run to the end (no early stop) instead of the attack
        # stage's x_adv, and F_x's leading eigenvector gives the eig_rel_error columns
        ProbeSpec(name="fisher-approx", version="2", target=f"{_PROBES}.fisher_approx:FisherApprox", paper=P0,
                  columns=["rel_error", "eig_rel_error"], needs_attacks=True,
                  summary="|KL(f(x)||f(x+eta)) - 1/2 eta^T F eta| / KL for eps 1/255..8/255 along a full PGD-20 "
                          "direction and F's leading eigenvector (P0 Table 2), float64"),
        ProbeSpec(name="fisher-split", version="1", target=f"{_PROBES}.fisher_split:FisherSplit", paper=P0,
                  columns=["fnorm_robust", "fnorm_nonrobust", "log_fnorm_robust", "log_fnorm_nonrobust",
                           "n_robust", "n_nonrobust", "n_correct"], needs_attacks=True,
                  summary="F-norm at robust vs non-robust correctly classified test examples (P0 Fig. 9)"),
    ]


@hookimpl
def robarena_suites() -> list[SuiteSpec]:
    return [
        SuiteSpec(name="p0-cpu", version="4", target=f"{PKG}:suites/p0-cpu.toml", paper=P0,
                  summary="digits: VGG13 pure linear / half linear / normal x standard, PGD-AT, TRADES beta 5; "
                          "PGD-20 and CW-Linf at 0.1; CCKL, Fisher, G1/G2 probes; minutes on 2 CPU cores",
                  description="A CPU-sized version of P0's experiments (Table 1, Table 2, Fig. 3/4/5/9) on the "
                              "bundled 8x8 digits."),
        SuiteSpec(name="p0-full", version="2", target=f"{PKG}:suites/p0-full.toml", paper=P0,
                  summary="P0 Table 1, VGG13 half, and Fig. 3: CIFAR-10, VGG13 pure linear / half linear / normal "
                          "x standard, PGD-AT, TRADES, lr 0.01, 160 epochs; PGD-20 and CW at 8/255",
                  description="The full-scale P0 protocol for the VGG13 models (GPU; needs the CIFAR-10 files)."),
        SuiteSpec(name="p0-full-resnet", version="2", target=f"{PKG}:suites/p0-full-resnet.toml", paper=P0,
                  summary="P0 Table 1, ResNet half, and Fig. 8: CIFAR-10, ResNet-20x1 and ResNet-32x10 x standard, "
                          "PGD-AT, TRADES, lr 0.1, 160 epochs; PGD-20 and CW at 8/255",
                  description="The full-scale P0 protocol for the ResNets (GPU; needs the CIFAR-10 files)."),
    ]


_CLAIMS = {  # name -> (check in claims.py, statement)
    "at-lowers-fisher": (
        "adversarial_training_lowers_fisher",
        "adversarial training (PGD-AT, TRADES) lowers the mean input Fisher norm relative to standard training, "
        "for every architecture (P0 Fig. 3, Fig. 8)"),
    "at-lowers-cckl": (
        "adversarial_training_lowers_cckl",
        "adversarially trained models (PGD-AT, TRADES) have a lower CCKL than standard training, for every "
        "architecture (P0 Sec. 3.3)"),
    "fisher-approx-small-eps": (
        "fisher_approximation_accurate_at_small_eps",
        "the Fisher (second-order) approximation of KL along the adversarial direction is accurate at the "
        "smallest eps: mean relative error below 0.1 for every TRADES model (P0 Table 2: 0.058 at 1/255)"),
    "fisher-approx-grows": (
        "fisher_approximation_error_grows_with_eps",
        "the relative error of the Fisher approximation of KL increases with eps for every TRADES model "
        "(P0 Table 2: 0.058 at 1/255 to 0.290 at 8/255)"),
    "robust-samples-lower-fisher": (
        "robust_samples_have_lower_fisher",
        "robust correctly classified examples have a smaller mean Fisher norm than non-robust correctly "
        "classified ones, for every adversarially trained model (P0 Fig. 9)"),
    "capacity-under-trades": (
        "capacity_helps_under_trades",
        "under TRADES, clean, PGD-20 and CW accuracy increase with model capacity (P0 Table 1)"),
    "capacity-relies-on-g2": (
        "capacity_relies_more_on_g2",
        "under TRADES, CCKL, G2 and G2/KL increase with model capacity: larger models rely more on the "
        "robust higher-order component (P0 Sec. 4, Fig. 5)"),
}
_APPROX_AND_CAPACITY = ["fisher-approx-small-eps", "fisher-approx-grows", "robust-samples-lower-fisher",
                        "capacity-under-trades", "capacity-relies-on-g2"]
_ALL_CLAIMS = ["at-lowers-fisher", "at-lowers-cckl"] + _APPROX_AND_CAPACITY
_SUITE_CLAIMS = {"p0-cpu": _ALL_CLAIMS, "p0-full": _ALL_CLAIMS, "p0-full-resnet": _ALL_CLAIMS}


@hookimpl
def robarena_claims() -> list[ClaimSpec]:
    return [ClaimSpec(name=f"{suite}.{name}", version="1", target=f"{_CHECKS}:{_CLAIMS[name][0]}", suite=suite,
                      statement=_CLAIMS[name][1], paper=P0, summary=_CLAIMS[name][1][:100])
            for suite, names in _SUITE_CLAIMS.items() for name in names]
