"""Training recipes: standard cross-entropy (:mod:`.standard`) and PGD-AT (:mod:`.pgd_at`)."""
