"""Probes: the MMD label-information surrogate (:mod:`.mmd_label_info`)."""
