"""Implementations of :mod:`robarena_corruptkit`: closed-form corruptions."""
from __future__ import annotations

import torch
from pydantic import Field

from bench.api import BaseConfig, Corruption


class Identity(Corruption):
    """x unchanged: accuracy under it is the clean accuracy."""

    def run(self, x, severity, generator):
        return x.clone()


class PepperConfig(BaseConfig):
    rate: float = Field(0.1, ge=0.0, le=0.2, description="fraction of pixels set to 0 per severity step")


class Pepper(Corruption):
    """Each pixel is set to 0 with probability rate * severity, drawn from the generator."""

    Config = PepperConfig

    def run(self, x, severity, generator):
        keep = torch.rand(x.shape, generator=generator) >= self.config.rate * severity
        return x * keep.to(x.dtype)


class Dim(Corruption):
    """x * (1 - severity / 5): severity 5 is a black image."""

    def run(self, x, severity, generator):
        return x * (1.0 - severity / 5.0)
