"""Specs for TRADES and fast FGSM adversarial training. Lists of specs only: no torch import."""
from __future__ import annotations

ATTACKS: list = []
DEFENSES: list = []
MODELS: list = []
PROBES: list = []
SUITES: list = []
