"""Spec of the FGSM minimal-step search (P4's FGSM protocol). A list of specs only: no torch import."""
from __future__ import annotations

from bench.specs import AttackSpec, Paper

PKG = "robarena_classics"

GOODFELLOW2015 = Paper(
    title="Explaining and Harnessing Adversarial Examples",
    authors="I. J. Goodfellow, J. Shlens, C. Szegedy", year=2015,
    url="https://arxiv.org/abs/1412.6572", key="Goodfellow2015",
)

ATTACKS: list = [
    AttackSpec(
        name="fgsm-search", version="1", target=f"{PKG}.attacks.fgsm_search:FGSMSearch",
        summary="FGSM with a linear search for the smallest fooling step: gradient once at x, steps "
                "k * max_eps / 1000 up to max_eps 1 (Foolbox GradientSignAttack; P4 App. F); per-example "
                "distance, inf when none fools; the clean input beyond eps",
        paper=GOODFELLOW2015, norms=["Linf", "L2"], minimal=True,
    ),
]
DEFENSES: list = []
MODELS: list = []
PROBES: list = []
SUITES: list = []
