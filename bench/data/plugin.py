"""The core plugin: embedded datasets. Registered as ``core`` by every plugin manager."""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import DatasetSpec, Paper

_DIGITS_PAPER = Paper(
    title="Optical Recognition of Handwritten Digits (UCI), as bundled by scikit-learn",
    authors="E. Alpaydin, C. Kaynak", year=1998,
    url="https://archive.ics.uci.edu/dataset/80", key="UCI-digits",
)


@hookimpl
def robarena_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name="digits", version="1", target="bench.data.digits:Digits", shape=(1, 8, 8), num_classes=10,
            summary="scikit-learn's 1,797 real 8x8 handwritten digits; train = first 1,297, test = last 500",
            paper=_DIGITS_PAPER,
        ),
        DatasetSpec(
            name="digits28", version="1", target="bench.data.digits:Digits28", shape=(1, 28, 28), num_classes=10,
            summary="the same digits resized (bilinear) to 28x28 for MNIST-shaped models",
            paper=_DIGITS_PAPER,
        ),
        DatasetSpec(
            name="gratings32", version="1", target="bench.data.gratings:Gratings32", shape=(3, 32, 32),
            num_classes=10,
            summary="deterministic RGB 32x32 oriented colour gratings with noise, 10 classes (CIFAR-shaped)",
        ),
    ]
