"""robarena-recognizability: the defenses of P3 (Helland & VanHoudnos 2021) beyond the classics.

Importing this package imports nothing heavy; ``robarena_recognizability.plugin`` registers
specs only, and each implementation module (one method per module) is imported on first use.
"""
__version__ = "0.1.0"
