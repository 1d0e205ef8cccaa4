"""Training for certification: Gaussian data augmentation (the base classifier of randomized smoothing)."""
