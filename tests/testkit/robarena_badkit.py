"""A plugin that breaks the contracts on purpose, for ``robarena validate`` tests."""
from bench.hookspecs import hookimpl
from bench.specs import AttackSpec


@hookimpl
def robarena_attacks():
    return [AttackSpec(name="not-an-attack", version="1", target="collections:OrderedDict", norms=["Linf"]),
            AttackSpec(name="l2-claimed", version="1", target="robarena_testkit_impl:Escape", norms=["L2"])]
