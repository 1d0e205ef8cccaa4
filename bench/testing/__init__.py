"""Helpers for plugin authors and for robarena's own tests: tiny models, batches, conformance checks.

``from bench.testing import conformance`` and call ``check_attack(entry)`` etc. in your
plugin's tests, or use the pytest fixtures that robarena registers (``robarena_registry``,
``tiny_batch``, ``tiny_linear``) — see docs/plugin-guide.md.
"""
