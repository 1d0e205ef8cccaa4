"""A user's own architecture factory, referenced as ``byo_factory:make`` by the BYO-model tests."""
from torch import nn

import bench
from bench import model_factory


@model_factory
def make(width: int = 16):
    """A plain nn.Module on (1, 8, 8) inputs: no robarena base class involved."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))


@bench.model_factory
class Net(nn.Sequential):
    """A marked nn.Module class (the decorator spelled as an attribute of bench)."""

    def __init__(self, width: int = 8):
        super().__init__(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))


class Unmarked(Net):
    """Inherits Net's marker attribute but is not itself marked: refused."""


def unmarked(width: int = 16):
    """A plain function without the decorator: suites may not call it."""
    return make(width)
