"""robarena-guessfirst: P4, "Guess First to Enable Better Compression and Adversarial Robustness".

Importing this package imports nothing heavy; ``robarena_guessfirst.plugin`` registers specs
only, and each implementation module is imported on first use.
"""
__version__ = "0.1.0"
