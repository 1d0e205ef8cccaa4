"""Executors run a plan's cells: in-process (default); Ray comes with the scale issue."""
