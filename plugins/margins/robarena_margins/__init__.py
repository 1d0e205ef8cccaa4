"""robarena-margins: P1's capacity control (spectral-norm clipping) and its FFT spectral routines.

Importing this package imports nothing heavy; ``robarena_margins.plugin`` registers specs only.
:mod:`robarena_margins.spectral` (conv singular values by FFT) is shared with probes.
"""
__version__ = "0.1.0"
