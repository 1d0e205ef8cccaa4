"""Specs for CW-L2, minimal-perturbation attacks, unbounded PGD, EOT and transfer. Lists of specs only: no torch import."""
from __future__ import annotations

ATTACKS: list = []
DEFENSES: list = []
MODELS: list = []
PROBES: list = []
SUITES: list = []
