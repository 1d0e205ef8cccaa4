"""Embedded datasets (no download) registered by the core plugin ``core``."""
