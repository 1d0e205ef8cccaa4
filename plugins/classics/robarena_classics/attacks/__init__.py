"""Attacks: FGSM (:mod:`.fgsm`), PGD (:mod:`.pgd`) and their shared core (:mod:`.core`)."""
