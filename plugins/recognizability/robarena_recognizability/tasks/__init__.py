"""Tasks: human-recognizability grids of unbounded targeted perturbations (:mod:`.recognizability`),
scored by an independent judge classifier (:mod:`.judge`)."""
