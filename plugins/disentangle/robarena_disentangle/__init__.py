"""robarena-disentangle: P0, "Towards Disentangling Non-Robust and Robust Components in Performance Metric".

Importing this package imports nothing heavy; ``robarena_disentangle.plugin`` registers specs
only, and each implementation module is imported on first use.
"""
__version__ = "0.1.0"
