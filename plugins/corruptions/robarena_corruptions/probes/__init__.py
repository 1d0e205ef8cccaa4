"""Probes of the corruptions plugin."""
