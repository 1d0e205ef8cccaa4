"""Spec of the attack-failure indicator probe (run on every row). Lists of specs only: no torch import."""
from __future__ import annotations

from bench.specs import Paper, ProbeSpec

PKG = "robarena_classics"

ATHALYE2018 = Paper(
    title="Obfuscated Gradients Give a False Sense of Security: Circumventing Defenses to Adversarial Examples",
    authors="A. Athalye, N. Carlini, D. Wagner", year=2018, url="https://arxiv.org/abs/1802.00420",
    key="Athalye2018",
)

PROBES: list = [
    ProbeSpec(
        name="integrity", version="1", target=f"{PKG}.probes.integrity:IntegrityProbe",
        summary="attack-failure indicators on every row: zero/NaN/tiny input gradients of the logit margin, "
                "randomized outputs, attack loss still rising (or examples still falling) after 10 more PGD steps",
        paper=ATHALYE2018, always=True, needs_attacks=True,
        columns=["grad_zero_frac", "grad_nan_frac", "grad_tiny_frac", "grad_norm_median", "output_max_diff",
                 "loss_rise", "continued_fooled"],
    ),
]
ATTACKS: list = []
DEFENSES: list = []
MODELS: list = []
SUITES: list = []
