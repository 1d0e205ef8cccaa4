"""A small plugin used by the core's own tests (loaded with ``-p robarena_testkit``).

It exists so the core is tested without depending on the built-in plugins, and it carries
deliberately broken components (an attack leaving its threat model, a failing defense).
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import AttackSpec, DefenseSpec, ModelSpec, ProbeSpec

M = "robarena_testkit_impl"


@hookimpl
def robarena_models():
    return [ModelSpec(name="tiny-linear", version="1", target="bench.testing.tiny:TinyLinear", summary="affine"),
            ModelSpec(name="tiny-conv", version="1", target="bench.testing.tiny:TinyConv", min_size=2)]


@hookimpl
def robarena_defenses():
    return [DefenseSpec(name="erm", version="1", target=f"{M}:ERM"),
            DefenseSpec(name="broken", version="1", target=f"{M}:Broken")]


@hookimpl
def robarena_attacks():
    return [AttackSpec(name="sign", version="1", target=f"{M}:SignStep", norms=["Linf", "L2"], targeted=True),
            AttackSpec(name="escape", version="1", target=f"{M}:Escape", norms=["Linf"]),
            AttackSpec(name="noise", version="1", target=f"{M}:UniformNoise", norms=["Linf"], needs_gradients=False)]


@hookimpl
def robarena_probes():
    return [ProbeSpec(name="confidence", version="1", target=f"{M}:Confidence", columns=["mean_max_prob"]),
            ProbeSpec(name="adv-gap", version="1", target=f"{M}:AdvGap", columns=["mean_shift"], needs_attacks=True)]
