"""A small plugin used by the core's own tests (loaded with ``-p robarena_testkit``).

It exists so the core is tested without depending on the built-in plugins, and it carries
deliberately broken components (an attack leaving its threat model, a failing defense).
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import AttackSpec, ClaimSpec, DefenseSpec, ModelSpec, ProbeSpec

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


@hookimpl
def robarena_claims():
    return [ClaimSpec(name="attack-hurts", version="1", target=f"{M}:attack_hurts", suite="tiny",
                      statement="the sign attack lowers accuracy below clean accuracy"),
            ClaimSpec(name="needs-missing", version="1", target=f"{M}:needs_missing_defense", suite="tiny",
                      statement="a claim over a defense the suite does not train"),
            ClaimSpec(name="raises", version="1", target=f"{M}:raises", suite="tiny",
                      statement="a broken claim"),
            ClaimSpec(name="elsewhere", version="1", target=f"{M}:attack_hurts", suite="other-suite",
                      statement="a claim about another suite")]
