"""P3's approximate defenses (:mod:`.gradient_penalty`, :mod:`.fisher_penalty`) and :mod:`.distillation`."""
