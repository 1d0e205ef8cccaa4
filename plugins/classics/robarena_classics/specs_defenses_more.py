"""Specs for TRADES and fast FGSM adversarial training. Lists of specs only: no torch import."""
from __future__ import annotations

from bench.specs import DefenseSpec, Paper

PKG = "robarena_classics"

ZHANG2019 = Paper(
    title="Theoretically Principled Trade-off between Robustness and Accuracy",
    authors="H. Zhang, Y. Yu, J. Jiao, E. P. Xing, L. El Ghaoui, M. I. Jordan", year=2019,
    url="https://arxiv.org/abs/1901.08573", key="Zhang2019",
)
WONG2020 = Paper(
    title="Fast is better than free: Revisiting adversarial training",
    authors="E. Wong, L. Rice, J. Z. Kolter", year=2020,
    url="https://arxiv.org/abs/2001.03994", key="Wong2020",
)

ATTACKS: list = []
DEFENSES: list = [
    DefenseSpec(
        name="trades", version="1", target=f"{PKG}.defenses.trades:TRADES",
        summary="TRADES: CE(f(x), y) + beta KL(f(x) || f(x')), x' by PGD on the KL from x + 0.001 N(0, I) "
                "(P3 Eq. 2.6); defaults beta 6, Linf eps 8/255, 10 steps of 2/255",
        paper=ZHANG2019,
    ),
    DefenseSpec(
        name="fast-at", version="1", target=f"{PKG}.defenses.fast_at:FastAT",
        summary="fast FGSM adversarial training: uniform random start, step 1.25 eps, roll back and stop "
                "when PGD accuracy on a training minibatch collapses (Wong et al. 2020; P3's FGSM defense; P1's FGSM-AT "
                "is margins/fgsm-at)",
        paper=WONG2020,
    ),
]
MODELS: list = []
PROBES: list = []
SUITES: list = []
