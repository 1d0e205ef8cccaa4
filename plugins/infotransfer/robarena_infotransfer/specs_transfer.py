"""Specs contributed by the transfer area of this plugin (lists named PROBES, TASKS, SUITES, CLAIMS)."""
from __future__ import annotations

PROBES: list = []
TASKS: list = []
SUITES: list = []
CLAIMS: list = []
