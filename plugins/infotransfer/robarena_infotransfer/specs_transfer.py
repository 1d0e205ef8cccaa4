"""Specs contributed by the transfer area of this plugin (lists named PROBES, TASKS, SUITES, CLAIMS).

The linear-probe transfer task, the P2 suites and the transfer claims. No torch import.
"""
from __future__ import annotations

from bench.specs import ClaimSpec, SuiteSpec, TaskSpec
from robarena_infotransfer.paper import P2

PKG = "robarena_infotransfer"

PROBES: list = []
TASKS: list = [
    TaskSpec(
        name="transfer", version="2", target=f"{PKG}.tasks.transfer:Transfer", paper=P2,
        columns=[f"{t}.{m}" for t in ("near", "far") for m in ("accuracy", "distance", "robust_accuracy", "class_emd")],
        summary="transfer (P2 Tables 1-3): logistic-regression head on frozen features (default), or fine-tuned with "
                "the last block or the whole extractor; <target>.accuracy, .distance (sample EMD of features), "
                ".robust_accuracy (PGD through the new model), .class_emd (Cui et al. 2018 class-mean EMD)",
    ),
]
SUITES: list = [
    SuiteSpec(
        name="p2-cpu", version="1", target=f"{PKG}:suites/p2-cpu.toml", paper=P2,
        summary="gratings32, ResNet-8: standard vs PGD-AT (L2 eps 4 and 8, scaled to the data); linear-probe "
                "transfer to source, near, mid and far targets; Fisher, weight-norm, entanglement; CPU minutes",
        description="A CPU-sized version of P2's transfer (Tables 1-3) and information (Fig. 5, 6, Eq. 8) "
                    "experiments on embedded data.",
    ),
    SuiteSpec(
        name="p2-full", version="2", target=f"{PKG}:suites/p2-full.toml", paper=P2,
        summary="P2 Tables 1-3, Figs. 4-6: standard vs PGD-AT at L2 eps 0.25, 0.5, 1, 2, 3 (our sweep values), "
                "ResNet-18/50 on CIFAR-10/100; linear transfer to CIFAR-100/10, Fashion-MNIST, MNIST, SVHN; "
                "Fisher, weight information, weight norm, entanglement, inversion (GPU, local data)",
        description="The full-scale P2 protocol (GPU; needs the CIFAR, MNIST, Fashion-MNIST and SVHN files).",
    ),
]

_CLAIMS = f"{PKG}.tasks.transfer_claims"
#: (name, function, statement): the transfer claims, on p2-cpu and (suffix -full) p2-full
_TRANSFER_CLAIMS = (
    ("robust-transfers-better-far", "robust_transfers_better_far",
     "a robust (PGD-AT) source transfers better than a standard one to the farthest target (positive "
     "robust-minus-standard linear-probe accuracy gap; P2 Table 1), per source"),
    ("gap-grows-with-distance", "gap_grows_with_distance",
     "the robust-minus-standard transfer gap grows with the target's EMD distance from the source (P2 Fig. 3 and "
     "7), the source itself left out, per source"),
    ("transferred-models-stay-robust", "transferred_robust_models_stay_robust",
     "a linear head on robust features is more robust than one on standard features: at least as robust on every "
     "target, more on one (P2 Lemma 0.8; Ilyas et al. 2019, Shafahi et al. 2019), per source"),
)
CLAIMS: list = [
    ClaimSpec(name=f"p2-{name}{suffix}", version="2", target=f"{_CLAIMS}:{fn}", suite=suite, paper=P2,
              statement=statement)
    for suffix, suite in (("", "p2-cpu"), ("-full", "p2-full")) for name, fn, statement in _TRANSFER_CLAIMS
]
