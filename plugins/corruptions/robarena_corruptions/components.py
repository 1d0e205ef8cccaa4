"""The 15 corruptions as ``bench.api.Corruption`` components (``corruptions/<name>``), one class each.

Each class applies :func:`robarena_corruptions.corrupt` with its name; the runner's corruption
stage gives it a CPU generator seeded from (row seed, corruption, severity, batch) and scores the
output with its own forward pass. No parameters: the severity table is the paper's (CIFAR-10-C
values with the size rule, see docs/corruptions.md).
"""
from __future__ import annotations

import torch

from bench.api import Corruption

from .api import CORRUPTIONS, corrupt


class _Named(Corruption):
    """Corruption ``name`` of :data:`robarena_corruptions.CORRUPTIONS` at severity 1..5."""

    name: str = ""

    def run(self, x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
        return corrupt(x, self.name, severity, generator)


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


for _name in CORRUPTIONS:
    globals()[_class_name(_name)] = type(_class_name(_name), (_Named,), {
        "name": _name, "__module__": __name__,
        "__doc__": f"The {_name.replace('_', ' ')} corruption of Hendrycks & Dietterich (2019), severity 1..5."})

__all__ = [_class_name(n) for n in CORRUPTIONS]
