"""Architectures: :mod:`.small_cnn` and :mod:`.linear`."""
