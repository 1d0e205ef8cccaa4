"""Probes: Jacobian and Fisher-weighted Jacobian norms and a local Lipschitz estimate (:mod:`.jacobian`)."""
