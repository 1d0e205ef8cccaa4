"""P1's probes: estimated probabilities (:mod:`.confidence`), layer singular values (:mod:`.layer_spectrum`),
maximal loss variation (:mod:`.loss_variation`) and instance-space margins (:mod:`.instance_margin`).

Margin histograms and generalization gaps are classics' ``margin`` and ``generalization`` probes.
"""
