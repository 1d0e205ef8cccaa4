"""The ``corruptions`` plugin: registers no component yet.

The corruption threat kind is to be added to the runner; until then the generators are used
directly through :func:`robarena_corruptions.corrupt`. This module imports neither torch nor any
implementation module.
"""
from __future__ import annotations
