"""Probes: margin distribution (:mod:`.margin`) and generalization gaps (:mod:`.generalization`)."""
