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
        name="transfer", version="1", target=f"{PKG}.tasks.transfer:Transfer", paper=P2,
        columns=[f"{t}.{m}" for t in ("near", "far") for m in ("accuracy", "distance", "robust_accuracy")],
        summary="linear-probe transfer (P2 Tables 1-3): frozen features, logistic-regression head per target; "
                "<target>.accuracy, .distance (feature EMD), .robust_accuracy (PGD through the new model)",
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
        name="p2-full", version="1", target=f"{PKG}:suites/p2-full.toml", paper=P2,
        summary="P2 Tables 1-3: standard vs robust (L2 eps 1) ResNet-18/50 on CIFAR-10/100, linear transfer to "
                "CIFAR-100/10, Fashion-MNIST, MNIST, SVHN (GPU, local data)",
        description="The full-scale P2 transfer protocol (GPU; needs the CIFAR, MNIST, Fashion-MNIST and SVHN files).",
    ),
]

_CLAIMS = f"{PKG}.tasks.transfer_claims"
CLAIMS: list = [
    ClaimSpec(name="p2-robust-transfers-better-far", version="1", target=f"{_CLAIMS}:robust_transfers_better_far",
              suite="p2-cpu", paper=P2,
              statement="a robust (PGD-AT) source transfers better than a standard one to the farthest target "
                        "(positive robust-minus-standard linear-probe accuracy gap; P2 Table 1)"),
    ClaimSpec(name="p2-gap-grows-with-distance", version="1", target=f"{_CLAIMS}:gap_grows_with_distance",
              suite="p2-cpu", paper=P2,
              statement="the robust-minus-standard transfer gap grows with the target's EMD distance from the "
                        "source (P2 Fig. 3 and 7)"),
    ClaimSpec(name="p2-transferred-models-stay-robust", version="1",
              target=f"{_CLAIMS}:transferred_robust_models_stay_robust", suite="p2-cpu", paper=P2,
              statement="a linear head on robust features is more robust than one on standard features: at least as "
                        "robust on every target, more on one (P2 Lemma 0.8; Ilyas et al. 2019, Shafahi et al. 2019)"),
]
