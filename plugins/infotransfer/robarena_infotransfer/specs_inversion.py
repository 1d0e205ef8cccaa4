"""Specs contributed by the inversion area of this plugin (lists named PROBES, TASKS, SUITES, CLAIMS).

P2's information in the weights (Def. 0.5, Fig. 4), representation inversion (Def. 0.1, Eq. 3),
effective noise once and effective images (Def. 0.7, Eq. 10), and the inversion claims. No torch import.
"""
from __future__ import annotations

from bench.specs import ClaimSpec, ProbeSpec, SuiteSpec, TaskSpec
from robarena_infotransfer.paper import P2

PKG = "robarena_infotransfer"

#: The inversion task's metrics (``robarena_infotransfer.tasks.inversion.METRICS``; a test keeps them equal).
INVERSION_METRICS = [
    "final_loss", "psnr", "ssim", "iters_to_threshold",
    "noise_final_loss", "noise_clean_loss", "noise_psnr", "noise_ssim", "noise_iters_to_threshold",
    "noise_feature_shift",
    "effective_final_loss", "effective_psnr", "effective_ssim", "effective_iters_to_threshold",
]

PROBES: list = [
    ProbeSpec(
        name="weight-info", version="1", target=f"{PKG}.probes.weight_info:WeightInfoProbe", paper=P2,
        columns=["mean_log_variance", "information"], needs_train=True,
        summary="diagonal true Fisher of the weights on training examples, log-variance of the optimal Gaussian "
                "posterior Sigma* = beta/2 (F_w + beta/(2 lambda^2) I)^-1 and KL(Q*||P) (P2 Def. 0.5, Fig. 4)",
    ),
]
TASKS: list = [
    TaskSpec(
        name="inversion", version="1", target=f"{PKG}.tasks.inversion:InversionTask", paper=P2,
        columns=INVERSION_METRICS,
        summary="representation inversion from N(0.5, sigma) noise (P2 Eq. 3), with effective weight noise once, "
                "and effective images (Eq. 10): relative loss, PSNR, SSIM, iterations to a threshold, PNG grid",
    ),
]
INVERSION_SUITE = "p2-inversion-cpu"
SUITES: list = [
    SuiteSpec(
        name=INVERSION_SUITE, version="1", target=f"{PKG}:suites/p2-inversion-cpu.toml", paper=P2,
        summary="digits, SmallCNN: standard vs PGD-AT (L2 eps 1), two seeds; inversion, effective noise once, "
                "effective images, weight information; CPU minutes",
        description="A CPU-sized version of P2's inversion experiments (Fig. 1, 2, Eq. 3 and 10) and of its "
                    "information in the weights (Def. 0.5, Fig. 4) on embedded data.",
    ),
]

_CLAIMS = f"{PKG}.tasks.inversion_claims"
#: (name, function, statement): the inversion claims, on p2-inversion-cpu and (suffix -full) p2-full
_INVERSION_CLAIMS = (
    ("robust-inverts-closer", "robust_inverts_closer",
     "robust models' representations invert to images closer to the original (higher PSNR and SSIM, lower final "
     "inversion loss) than standard models' (P2 Fig. 1; Engstrom et al. 2019), per source"),
    ("robust-inverts-faster", "robust_inverts_faster",
     "robust models invert faster: fewer iterations until the inversion loss falls to the threshold fraction of "
     "its initial value, per source"),
    ("noise-once-speeds-inversion", "noise_once_speeds_inversion",
     "adding effective noise n ~ N(0, Sigma*) to the weights once speeds up inversion of a robust model (P2 "
     "Fig. 2: ~200 instead of ~8k iterations), per source"),
)
CLAIMS: list = [
    ClaimSpec(name=f"p2-{name}{suffix}", version="2", target=f"{_CLAIMS}:{fn}", suite=suite, paper=P2,
              statement=statement)
    for suffix, suite in (("", INVERSION_SUITE), ("-full", "p2-full")) for name, fn, statement in _INVERSION_CLAIMS
]
