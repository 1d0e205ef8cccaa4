"""Datasets registered by the core plugin ``core``: embedded ones (no download) and real-dataset loaders."""
