"""Probes: CCKL, input Fisher, G1 / G2, Fisher approximation error, robust / non-robust Fisher split."""
