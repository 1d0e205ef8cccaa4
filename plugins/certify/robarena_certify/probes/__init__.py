"""Certified-accuracy probes: randomized smoothing (L2) and interval bound propagation (Linf)."""
