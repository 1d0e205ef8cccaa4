"""The ``tasks`` suite and the claims checked on it (no torch import)."""
from __future__ import annotations

from bench.specs import ClaimSpec, SuiteSpec
from robarena_infotransfer.paper import P2, P3

_T, _I = "robarena_infotransfer.tasks.transfer_claims", "robarena_infotransfer.tasks.inversion_claims"

SUITES: list = [
    SuiteSpec(name="tasks", version="1", target="robarena_infotransfer:suites/tasks.toml", paper=P2,
              summary="gratings32 ResNet-8, standard vs PGD-AT: linear-probe transfer (near, far), representation "
                      "inversion with effective noise, recognizability of targeted perturbations (P2, P3)"),
]

# the paper suites' claim functions, checked again on the tasks suite (same row labels)
CLAIMS: list = [
    ClaimSpec(name="tasks-robust-transfers-better-far", version="2", target=f"{_T}:robust_transfers_better_far",
              suite="tasks", paper=P2, statement="robust features transfer better than standard ones to the far target"),
    ClaimSpec(name="tasks-gap-grows-with-distance", version="2", target=f"{_T}:gap_grows_with_distance",
              suite="tasks", paper=P2, statement="the robust-minus-standard transfer gap grows with dataset distance"),
    ClaimSpec(name="tasks-robust-inverts-closer", version="2", target=f"{_I}:robust_inverts_closer",
              suite="tasks", paper=P2, statement="robust representations invert to images closer to the original"),
    ClaimSpec(name="tasks-robust-inverts-faster", version="2", target=f"{_I}:robust_inverts_faster",
              suite="tasks", paper=P2, statement="robust representations invert in fewer iterations"),
    ClaimSpec(name="tasks-noise-once-speeds-inversion", version="2", target=f"{_I}:noise_once_speeds_inversion",
              suite="tasks", paper=P2, statement="adding effective noise once speeds up inversion"),
    ClaimSpec(name="tasks-robust-perturbations-recognized", version="2",
              target="robarena_infotransfer.tasks_claims:robust_perturbations_are_recognized", suite="tasks",
              paper=P3, statement="an independent classifier reads robust models' targeted perturbations as the "
                                  "target class more often than standard models'"),
]
