"""robarena-classics: the established methods every robustness paper builds on.

Importing this package imports nothing heavy; ``robarena_classics.plugin`` registers specs
only, and each implementation module (one method per module) is imported on first use.
"""
__version__ = "0.1.0"
