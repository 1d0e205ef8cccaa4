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
        name="rep-fisher", version="1", target=f"{PKG}.probes.rep_fisher:RepFisher", paper=P2,
        columns=["trace_mean", "logdet_mean"],
        summary="Fisher of the features about the input, F_{z|x} = J^T J / sigma^2 (P2 Def. 0.2): mean trace and "
                "log det(J J^T / sigma^2 + ridge) (Eq. 8), exact J by k backward passes",
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
CLAIMS: list = [
    ClaimSpec(name="p2-at-lowers-fisher-trace", version="1", target=f"{_CLAIMS}:at_lowers_fisher_trace",
              suite="p2-cpu", paper=P2,
              statement="adversarial training lowers tr F_{z|x}, the Fisher information of the features about the "
                        "input (P2 Prop. 0.3: AT regularises F_{z|x})"),
    ClaimSpec(name="p2-eps-lowers-fisher-logdet", version="1", target=f"{_CLAIMS}:eps_lowers_fisher_logdet",
              suite="p2-cpu", paper=P2,
              statement="log |F_{z|x}|, hence the effective information of Eq. 8, decreases as the training eps "
                        "increases (P2: 'it is sufficient to decrease |F_{z|x}|, that is, increasing eps')"),
    ClaimSpec(name="p2-large-eps-lowers-weight-norm", version="1", target=f"{_CLAIMS}:large_eps_lowers_weight_norm",
              suite="p2-cpu", paper=P2,
              statement="adversarial training at a large L2 eps (P2: eps > 1; p2-cpu: the PGD-AT-large row) ends "
                        "with a smaller ||w||_2 than standard training (P2 Fig. 5: true only for eps > 1)"),
    ClaimSpec(name="p2-eps-entangles-features", version="1", target=f"{_CLAIMS}:eps_entangles_features",
              suite="p2-cpu", paper=P2,
              statement="the final features become more entangled (higher soft nearest-neighbour loss at the "
                        "scale-free temperature T = median squared distance) as the training eps increases "
                        "(P2 Fig. 6)"),
]
