"""Corruptions for the core's corruption-stage tests (loaded with ``-p robarena_corruptkit``); specs only."""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import CorruptionSpec

M = "robarena_corruptkit_impl"


@hookimpl
def robarena_corruptions():
    return [CorruptionSpec(name="identity", version="1", target=f"{M}:Identity", family="digital", deterministic=True),
            CorruptionSpec(name="pepper", version="1", target=f"{M}:Pepper", family="noise"),
            CorruptionSpec(name="dim", version="1", target=f"{M}:Dim", family="weather", deterministic=True)]
