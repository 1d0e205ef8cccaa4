"""Re-export of :mod:`bench.config` (torch-free) for implementation modules."""
from bench.config import BaseConfig, TrainConfig

__all__ = ["BaseConfig", "TrainConfig"]
