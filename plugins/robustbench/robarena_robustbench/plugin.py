"""robarena plugin ``robustbench``: RobustBench model-zoo checkpoints as ``robustbench/<dataset>/<threat>/<name>``.

The plugin registers no components through the hooks: the zoo's model ids (names with capitals and
slashes) are made on demand by a :class:`bench.registry.Resolver`, added here through the public
:func:`bench.registry.register_resolver` when robarena loads the plugin.
"""
from __future__ import annotations

from bench.registry import register_resolver

from robarena_robustbench.zoo import RESOLVER

register_resolver(RESOLVER)
