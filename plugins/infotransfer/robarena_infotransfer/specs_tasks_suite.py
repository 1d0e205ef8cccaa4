"""The ``tasks`` suite: transfer, inversion and recognizability side by side (no torch import)."""
from __future__ import annotations

from bench.specs import SuiteSpec
from robarena_infotransfer.paper import P2

SUITES: list = [
    SuiteSpec(name="tasks", version="1", target="robarena_infotransfer:suites/tasks.toml", paper=P2,
              summary="gratings32 ResNet-8, standard vs PGD-AT: linear-probe transfer (near, far), representation "
                      "inversion with effective noise, recognizability of targeted perturbations (P2, P3)"),
]
