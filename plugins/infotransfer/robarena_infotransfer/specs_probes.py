"""Specs contributed by the probes area of this plugin (lists named PROBES, TASKS, SUITES, CLAIMS).

P2's representation probes (Fisher of the representation about the input, weight norm,
entanglement) and the claims about them. No torch import.
"""
from __future__ import annotations

from bench.specs import ClaimSpec, Paper, ProbeSpec
from robarena_infotransfer.paper import P2

PKG = "robarena_infotransfer"
FROSST2019 = Paper(title="Analyzing and Improving Representations with the Soft Nearest Neighbor Loss",
                   authors="N. Frosst, N. Papernot, G. Hinton", year=2019, url="https://arxiv.org/abs/1902.01889",
                   key="Frosst2019")

PROBES: list = [
    ProbeSpec(
        name="rep-fisher", version="2", target=f"{PKG}.probes.rep_fisher:RepFisher", paper=P2,
        columns=["iso_trace_mean", "iso_logdet_mean"],
        summary="Fisher of the features about the input under the isotropic observation model N(f(x), sigma^2 I), "
                "J^T J / sigma^2 (P2 Def. 0.2; not P2's weight-noise Eq. 9): mean trace and "
                "log det(J J^T / sigma^2 + ridge) (Eq. 8 for that model), exact J by k backward passes",
    ),
    ProbeSpec(
        name="weight-norm", version="1", target=f"{PKG}.probes.weight_norm:WeightNorm", paper=P2,
        columns=["weight_norm"],
        summary="||w||_2 over all trainable parameters (P2 Fig. 5), head norm, per-tensor norms",
    ),
    ProbeSpec(
        name="entanglement", version="1", target=f"{PKG}.probes.entanglement:Entanglement", paper=FROSST2019,
        columns=["snn_loss"],
        summary="soft nearest-neighbour loss of the final features at the loss-minimising temperature and at "
                "T = median squared distance (Frosst et al. 2019; P2 Fig. 6), 2-D PCA arrays for plots",
    ),
]
TASKS: list = []
SUITES: list = []

_CLAIMS = f"{PKG}.probes.claims"
#: (name, function, statement, suites): the probe claims, on p2-cpu and (suffix -full) p2-full
_PROBE_CLAIMS = (
    ("at-lowers-fisher-trace", "at_lowers_fisher_trace",
     "adversarial training lowers tr F_{z|x}, the Fisher information of the features about the input under the "
     "isotropic observation model N(f(x), sigma^2 I) (P2 Prop. 0.3: AT regularises F_{z|x}); every training eps, "
     "per source", ("p2-cpu", "p2-full")),
    ("eps-lowers-fisher-logdet", "eps_lowers_fisher_logdet",
     "log |F_{z|x}| (isotropic observation model), hence the effective information of Eq. 8, decreases as the "
     "training eps increases (P2: 'it is sufficient to decrease |F_{z|x}|, that is, increasing eps'); Spearman over "
     "the eps sweep, per source", ("p2-cpu", "p2-full")),
    ("large-eps-lowers-weight-norm", "large_eps_lowers_weight_norm",
     "adversarial training at every eps above the robust source's (P2: eps > 1; p2-cpu: eps 8) ends with a smaller "
     "||w||_2 than standard training (P2 Fig. 5: true only for eps > 1), per source", ("p2-cpu", "p2-full")),
    ("eps-entangles-features", "eps_entangles_features",
     "the final features become more entangled (higher soft nearest-neighbour loss at the scale-free temperature "
     "T = median squared distance) as the training eps increases (P2 Fig. 6); Spearman over the eps sweep, per "
     "source", ("p2-cpu", "p2-full")),
    ("eps-raises-weight-log-variance", "eps_raises_weight_log_variance",
     "the mean log-variance of the optimal weight posterior Sigma* rises (less information in the weights) as the "
     "training eps increases (P2 Fig. 4, ResNet-18 on CIFAR-10); Spearman over the eps sweep, per source",
     ("p2-full",)),
)
CLAIMS: list = [
    ClaimSpec(name=f"p2-{name}" + ("-full" if suite == "p2-full" else ""), version="2",
              target=f"{_CLAIMS}:{fn}", suite=suite, paper=P2, statement=statement)
    for name, fn, statement, suites in _PROBE_CLAIMS for suite in suites
]
