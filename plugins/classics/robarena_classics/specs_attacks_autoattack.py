"""Specs for APGD-CE/DLR/targeted, Square and the AutoAttack-style ensemble. Lists of specs only: no torch import."""
from __future__ import annotations

ATTACKS: list = []
DEFENSES: list = []
MODELS: list = []
PROBES: list = []
SUITES: list = []
