"""Suite -> plan of cells -> cached stages (train, attack, probe, task) -> results store."""
