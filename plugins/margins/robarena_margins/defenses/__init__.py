"""P1's capacity control: :mod:`.spectral_clip`."""
