"""robarena plugin ``robustbench``: RobustBench model-zoo checkpoints as ``robustbench/<dataset>/<threat>/<name>``.

The plugin registers no components through the hooks: the zoo's model ids (names with capitals and
slashes) are made on demand by a :class:`bench.registry.Resolver`, added here through the public
:func:`bench.registry.register_resolver` when robarena loads the plugin.
"""
from __future__ import annotations

from bench.registry import Entry, Resolver, register_resolver
from bench.specs import Kind

PREFIX = "robustbench/"


def _make(ident: str) -> Entry:
    """The zoo entry of ``ident``, importing the zoo (and torch) only when such an id is first used."""
    from robarena_robustbench.zoo import zoo_entry

    return zoo_entry(ident)


register_resolver(Resolver(Kind.MODEL, PREFIX, _make))
