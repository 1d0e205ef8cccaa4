"""The ``certify`` plugin: specs only (targets named lazily as ``module:Class``; no torch import here)."""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import DefenseSpec, Paper, ProbeSpec, SuiteSpec

PKG = "robarena_certify"

COHEN = Paper(title="Certified Adversarial Robustness via Randomized Smoothing",
              authors="Jeremy Cohen, Elan Rosenfeld, J. Zico Kolter", year=2019,
              url="https://arxiv.org/abs/1902.02918", key="Cohen2019")
GOWAL = Paper(title="On the Effectiveness of Interval Bound Propagation for Training Verifiably Robust Models",
              authors="Sven Gowal, Krishnamurthy Dvijotham, Robert Stanforth, Rudy Bunel, Chongli Qin, "
                      "Jonathan Uesato, Relja Arandjelovic, Timothy Mann, Pushmeet Kohli", year=2018,
              url="https://arxiv.org/abs/1810.12715", key="Gowal2018")


@hookimpl
def robarena_defenses() -> list[DefenseSpec]:
    return [DefenseSpec(
        name="gaussian-augment", version="1", target=f"{PKG}.defenses.gaussian_augment:GaussianAugment",
        summary="cross-entropy on inputs with Gaussian noise N(0, sigma^2 I), sigma 0.25 by default: the base "
                "classifier of randomized smoothing (Cohen et al. 2019)", paper=COHEN)]


@hookimpl
def robarena_probes() -> list[ProbeSpec]:
    return [
        ProbeSpec(
            name="smoothing", version="2", target=f"{PKG}.probes.smoothing:SmoothingProbe",
            summary="randomized smoothing CERTIFY (n0 100, n 100000, alpha 0.001, sigma 0.25): certified L2 "
                    "accuracy certified@<r> at radii 0-1 with Clopper-Pearson intervals, abstain rate; "
                    "empirical@<r> of the smoothed classifier under SmoothAdv-PGD (EOT)",
            paper=COHEN, columns=["smoothed_accuracy", "abstain_rate", "mean_radius", "n"]),
        ProbeSpec(
            name="ibp", version="2", target=f"{PKG}.probes.ibp:IBPProbe",
            summary="interval bound propagation, last layer elided: certified Linf accuracy certified@<eps> "
                    "(1, 2, 8 /255) with Clopper-Pearson intervals, on sequential Linear/Conv/ReLU models",
            paper=GOWAL, columns=["clean_accuracy", "n"]),
    ]


@hookimpl
def robarena_suites() -> list[SuiteSpec]:
    return [SuiteSpec(
        name="certify-digits", version="1", target=f"{PKG}:suites/certify_digits.toml",
        summary="digits, SmallCNN, standard / PGD-AT / Gaussian augmentation: IBP and randomized smoothing "
                "certified accuracy beside PGD, APGD-CE and SmoothAdv (reduced CERTIFY n = 1,000)",
        description="The sandwich certified <= empirical on every row, in a few minutes on a CPU.")]
