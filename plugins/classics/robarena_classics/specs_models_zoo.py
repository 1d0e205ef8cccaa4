"""Specs for the papers' architectures (VGG13 variants, CIFAR ResNets, PreAct ResNet-18, WRN, LeNet). Lists of specs only: no torch import."""
from __future__ import annotations

ATTACKS: list = []
DEFENSES: list = []
MODELS: list = []
PROBES: list = []
SUITES: list = []
