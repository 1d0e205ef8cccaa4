"""The ``margins`` plugin (P1): specs only. Implementations are named lazily as ``module:Class``.

This module imports neither torch nor any implementation module, so discovering the plugin
is cheap; the registry imports a target on first use.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import ClaimSpec, DefenseSpec, Paper, ProbeSpec, SuiteSpec

PKG = "robarena_margins"

P1 = Paper(
    title="Towards Understanding the Regularization of Adversarial Robustness on Neural Networks",
    authors="Anonymous (ICLR 2020 submission)", year=2020, key="P1",
)


@hookimpl
def robarena_defenses() -> list[DefenseSpec]:
    return [
        DefenseSpec(
            name="spectral-clip", version="2", target=f"{PKG}.defenses.spectral_clip:SpectralClip",
            summary="PGD-AT (or standard) training with every conv (FFT operator, Sedghi et al. 2018) and linear "
                    "layer's spectral norm clipped to a bound in {1, 3, 5, None} after each epoch (P1 B.4); "
                    "default bound 1, PGD-AT Linf 8/255, 10 steps of 2/255",
            paper=P1,
        ),
        DefenseSpec(
            name="fgsm-at", version="1", target=f"{PKG}.defenses.fgsm_at:FGSMAT",
            summary="P1 B.6's FGSM adversarial training: PGD-AT with the inner PGD replaced by one FGSM step of "
                    "length eps from the clean point (no random start; not Wong et al.'s fast AT, which is "
                    "classics/fast-at); default Linf 8/255",
            paper=P1,
        ),
    ]


@hookimpl
def robarena_probes() -> list[ProbeSpec]:
    return [
        ProbeSpec(
            name="confidence", version="1", target=f"{PKG}.probes.confidence:ConfidenceProbe",
            summary="estimated probability p_y = softmax_y and cross-entropy per test example: means, medians, "
                    "fraction of middle p_y, histograms (P1 Fig. 5a-b)",
            paper=P1, columns=["mean_p_y", "median_p_y", "mean_loss", "median_loss", "frac_middle"],
        ),
        ProbeSpec(
            name="margin-spread", version="1", target=f"{PKG}.probes.margin_spread:MarginSpreadProbe",
            summary="spread of the test logit margins f_y - max_{i != y} f_i: std, interquartile range, mean |margin| "
                    "(P1 Fig. 1b, 4: margins concentrate around zero)",
            paper=P1, columns=["std", "iqr", "mean_abs"],
        ),
        ProbeSpec(
            name="layer-spectrum", version="1", target=f"{PKG}.probes.layer_spectrum:LayerSpectrumProbe",
            summary="singular values of every conv (FFT operator, Sedghi et al.) and linear layer: per-layer STD "
                    "(extra columns sv_std.<layer>), log spectral complexity sum ln ||W_i||_2 (P1 Fig. 1a, 5c, Def. 7)",
            paper=P1, columns=["log_spectral_complexity", "mean_sv_std", "max_spectral_norm", "n_layers"],
        ),
        ProbeSpec(
            name="loss-variation", version="1", target=f"{PKG}.probes.loss_variation:LossVariationProbe",
            summary="mean and STD over test points of max_{||d||_inf <= eps} CE(x + d) - CE(x) by a 10-step PGD "
                    "ascent, eps 1, 2, 4 /255 (P1 B.5, Table 1)",
            paper=P1, columns=["mean", "std"],
        ),
        ProbeSpec(
            name="instance-margin", version="1", target=f"{PKG}.probes.instance_margin:InstanceMarginProbe",
            summary="distance of clean-correct test points to the decision boundary from the suite's DeepFool / "
                    "FAB examples: mean, median, fraction found (P1 Def. 6)",
            paper=P1, columns=["mean", "median", "frac_found"], needs_attacks=True,
        ),
    ]


#: (name, target in .claims, statement): P1's claims, checked on the AR sweeps of the P1 suites
_CLAIMS = (
    ("loss-gap-shrinks", "loss_gap_shrinks",
     "the train/test loss gap (GE gap) decreases as the PGD-AT strength grows (P1 Sec. 5.1, Fig. 3a, Tables 3-5)"),
    ("train-loss-grows", "train_loss_grows",
     "the training loss increases with PGD-AT strength: AR reduces the capacity to fit (P1 Sec. 5.1, Tables 3-5)"),
    ("test-accuracy-drops", "test_accuracy_drops",
     "clean test accuracy decreases with PGD-AT strength (P1 Fig. 1c, 3b, Tables 3-5)"),
    ("strongest-ar-most-robust", "strongest_ar_most_robust",
     "the strongest PGD-AT gives the highest PGD accuracy on clean-correct points (P1 Fig. 1c, 11, D.2)"),
    ("margins-concentrate", "margins_concentrate",
     "the mean test logit margin decreases (margins concentrate toward zero) with PGD-AT strength (P1 Fig. 1b, 4)"),
    ("less-confident", "less_confident",
     "the mean estimated probability p_y of test examples decreases with PGD-AT strength (P1 Sec. 5.2.1, Fig. 5a)"),
    ("p-y-concentrates-middle", "p_y_concentrates_middle",
     "the fraction of test examples with a middle estimated probability (0.1 <= p_y <= 0.9) grows with PGD-AT "
     "strength (P1 Sec. 5.2.1, Fig. 5a). Added after the fact: written after the first p1-cpu run, when "
     "less-confident had failed on it; the range 0.1-0.9 is the probe's default, fixed before that run"),
    ("margin-spread-shrinks", "margin_spread_shrinks",
     "the test margin distribution concentrates: its standard deviation and interquartile range both decrease "
     "with PGD-AT strength (P1 Fig. 1b, 4)"),
    ("sv-std-shrinks", "sv_std_shrinks",
     "from the weakest to the strongest PGD-AT, the accumulated decrease of per-layer singular-value STDs exceeds "
     "the accumulated increase (P1 Sec. 5.2.2, Fig. 5c-d, Appendix B.2)"),
    ("sv-std-decrease-order-larger", "sv_std_decrease_order_larger",
     "from the weakest to the strongest PGD-AT, the accumulated decrease of per-layer singular-value STDs is an "
     "order of magnitude larger than the accumulated increase (P1 B.2: 4.7465 vs 0.4372 on CIFAR-10, 3.7511 vs "
     "0.4372 on CIFAR-100), within half an order: decrease > 10 ** 0.5 x increase"),
    ("loss-variation-shrinks", "loss_variation_shrinks",
     "the average maximal loss variation in an Linf ball decreases with PGD-AT strength at every radius "
     "(P1 Appendix B.5, Table 1)"),
    ("spectral-clip-lowers-loss-gap", "spectral_clip_lowers_loss_gap",
     "spectral-norm clipping lowers the loss gap of PGD-AT at the same eps (P1 Appendix B.4, Table 6)"),
    ("spectral-clip-lowers-error-gap", "spectral_clip_lowers_error_gap",
     "spectral-norm clipping lowers the error gap of PGD-AT at the same eps (P1 Appendix B.3-B.4, Table 6)"),
    ("error-gap-shrinks", "error_gap_shrinks",
     "the train/test error gap decreases with PGD-AT strength where the network does not overfit the task "
     "(P1 Sec. 5.1, Table 5: Tiny-ImageNet)"),
    ("error-gap-shrinks-at-bound-1", "error_gap_shrinks_at_bound_1",
     "with every layer's spectral norm clipped to 1, the error gap decreases with PGD-AT strength "
     "(P1 Appendix B.4, Fig. 6a, Table 6)"),
    ("error-gap-cifar100-down-cifar10-up", "error_gap_cifar100_down_cifar10_up",
     "the error gap decreases with PGD-AT strength on CIFAR-100 but increases on CIFAR-10, where the ResNets "
     "overfit (P1 Sec. 5.1, Fig. 3a, Appendix B.3, Tables 3-4)"),
    ("loss-gap-shrinks-every-bound", "loss_gap_shrinks_at_every_bound",
     "at every spectral-norm bound (1, 3, 5, uncontrolled) the loss gap decreases with PGD-AT strength "
     "(P1 Appendix B.4, Fig. 6, Table 6)"),
    ("fgsm-at-loss-gap-shrinks", "fgsm_at_loss_gap_shrinks",
     "FGSM adversarial training (P1's PGD-AT with PGD replaced by FGSM, margins/fgsm-at) also lowers the loss "
     "gap as its strength grows (P1 Appendix B.6, Table 2)"),
)
#: how every claim is decided (appended to its statement); LEVEL = 0.05
_TREND_TEST = ("test: each step of the sweep one-sided at level 0.05 (accuracies: Fisher's exact test on the "
               "counts; probe metrics: paired t-test over seeds), all steps must hold (intersection-union), "
               "does not hold when one step is significant the other way at 0.05 / steps; one seed of a probe "
               "metric: inconclusive")
_PAIR_TEST = ("test: each comparison one-sided at level 0.05 (accuracies: Fisher's exact test; probe metrics: "
              "paired t-test over seeds), all must hold, Bonferroni against; one seed of a probe metric: "
              "inconclusive")
_TESTS = {"strongest-ar-most-robust": _PAIR_TEST, "sv-std-shrinks": _PAIR_TEST,
          "sv-std-decrease-order-larger": _PAIR_TEST, "spectral-clip-lowers-loss-gap": _PAIR_TEST,
          "spectral-clip-lowers-error-gap": _PAIR_TEST}
#: claims whose statement or check changed since version 1 (issue 16): their results are not comparable
_VERSIONS = {"p-y-concentrates-middle": "2", "fgsm-at-loss-gap-shrinks": "2"}
#: which claims each P1 suite can check (its rows carry the needed AR sweep and probes)
_SUITE_CLAIMS = {
    "p1-cpu": [name for name, _, _ in _CLAIMS
               if name not in ("loss-gap-shrinks-every-bound", "error-gap-shrinks", "error-gap-shrinks-at-bound-1",
                               "error-gap-cifar100-down-cifar10-up")],
    "p1-full": ["loss-gap-shrinks", "train-loss-grows", "test-accuracy-drops", "strongest-ar-most-robust",
                "margins-concentrate", "margin-spread-shrinks", "less-confident", "p-y-concentrates-middle",
                "sv-std-shrinks", "sv-std-decrease-order-larger", "loss-variation-shrinks",
                "error-gap-cifar100-down-cifar10-up"],
    "p1-full-tiny": ["loss-gap-shrinks", "train-loss-grows", "test-accuracy-drops", "strongest-ar-most-robust",
                     "error-gap-shrinks"],
    "p1-full-sn": ["loss-gap-shrinks-every-bound", "spectral-clip-lowers-loss-gap", "spectral-clip-lowers-error-gap",
                   "error-gap-shrinks-at-bound-1"],
    "p1-full-fgsm": ["fgsm-at-loss-gap-shrinks"],
}
#: the weight-decay variant of p1-full (5e-4, not P1's) is checked with p1-full's claims
_SUITE_CLAIMS["p1-full-wd"] = list(_SUITE_CLAIMS["p1-full"])


@hookimpl
def robarena_claims() -> list[ClaimSpec]:
    table = {name: (target, statement) for name, target, statement in _CLAIMS}
    return [ClaimSpec(name=f"{suite}.{name}", version=_VERSIONS.get(name, "1"),
                      target=f"{PKG}.claims:{table[name][0]}", suite=suite,
                      statement=f"{table[name][1]} [{_TESTS.get(name, _TREND_TEST)}]", paper=P1)
            for suite, names in _SUITE_CLAIMS.items() for name in names]


@hookimpl
def robarena_suites() -> list[SuiteSpec]:
    return [
        SuiteSpec(
            name="p1-cpu", version="3", target=f"{PKG}:suites/p1-cpu.toml",
            summary="digits (8x8), SmallCNN: standard vs PGD-AT and P1's FGSM-AT at Linf 0.05 / 0.1 / 0.2, spectral-norm "
                    "clipping at 0.1; PGD-10 and DeepFool; margin, generalization and P1's probes (CPU, minutes)",
            description="P1's protocol scaled to the bundled digits; see docs/reproductions/p1.md.",
        ),
        SuiteSpec(
            name="p1-full", version="2", target=f"{PKG}:suites/p1-full.toml",
            summary="P1 Tables 3-4: CIFAR-10/100, Fixup ResNet-56/110, standard and PGD-AT at 4/8/16 /255, "
                    "200 epochs, no weight decay (GPU)",
        ),
        SuiteSpec(
            name="p1-full-wd", version="1", target=f"{PKG}:suites/p1-full-wd.toml",
            summary="variant of p1-full with weight decay 5e-4 (Fixup's CIFAR setting; P1 gives none) (GPU)",
        ),
        SuiteSpec(
            name="p1-full-tiny", version="2", target=f"{PKG}:suites/p1-full-tiny.toml",
            summary="P1 Table 5: Tiny-ImageNet 56x56, WRN-50-2, standard and PGD-AT at 4/8/16 /255, 90 epochs (GPU)",
        ),
        SuiteSpec(
            name="p1-full-sn", version="2", target=f"{PKG}:suites/p1-full-sn.toml",
            summary="P1 Table 6: CIFAR-10, Fixup ResNet-56, spectral-norm bound 1/3/5/uncontrolled x PGD-AT "
                    "4/8/16 /255 (GPU)",
        ),
        SuiteSpec(
            name="p1-full-fgsm", version="2", target=f"{PKG}:suites/p1-full-fgsm.toml",
            summary="P1 Table 2 (B.6): CIFAR-10/100, Fixup ResNet-56, FGSM-AT (PGD-AT with PGD replaced by FGSM) "
                    "at 4/8/16 /255 (GPU)",
        ),
    ]
