"""A user's own architecture factory, referenced as ``byo_factory:make`` by the BYO-model tests."""
from torch import nn


def make(width: int = 16):
    """A plain nn.Module on (1, 8, 8) inputs: no robarena base class involved."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))
