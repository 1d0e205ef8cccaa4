"""robarena plugin: certified lower bounds (randomized smoothing, interval bound propagation) and the sandwich check."""
