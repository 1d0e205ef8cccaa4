"""Architectures: the P4 CNN (:mod:`.cnn`), the label-hypothesis network (:mod:`.hypothesis`)
and the variational-information-bottleneck wrapper (:mod:`.vib`)."""
