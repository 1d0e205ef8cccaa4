"""Defenses: the Guess-First objectives C-JS / C-DV (+ IE) (:mod:`.guess_first`) and VIB (:mod:`.vib`)."""
