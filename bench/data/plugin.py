"""The core plugin: embedded datasets and real-dataset loaders. Registered as ``core`` by every plugin manager.

Real datasets (``embedded=False``) read local files under ``root`` (default ``$ROBARENA_DATA``
or ``~/.robarena/data``) through torchvision and never download unless ``download = true``;
see docs/datasets.md for the files each expects and how to obtain them.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import DatasetSpec, Paper

_DIGITS_PAPER = Paper(
    title="Optical Recognition of Handwritten Digits (UCI), as bundled by scikit-learn",
    authors="E. Alpaydin, C. Kaynak", year=1998,
    url="https://archive.ics.uci.edu/dataset/80", key="UCI-digits",
)
_CIFAR_PAPER = Paper(title="Learning Multiple Layers of Features from Tiny Images", authors="A. Krizhevsky",
                     year=2009, url="https://www.cs.toronto.edu/~kriz/cifar.html", key="Krizhevsky2009")
_MNIST_PAPER = Paper(title="Gradient-Based Learning Applied to Document Recognition",
                     authors="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner", year=1998,
                     url="http://yann.lecun.com/exdb/mnist/", key="LeCun1998")
_FASHION_PAPER = Paper(title="Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms",
                       authors="H. Xiao, K. Rasul, R. Vollgraf", year=2017,
                       url="https://github.com/zalandoresearch/fashion-mnist", key="Xiao2017")
_SVHN_PAPER = Paper(title="Reading Digits in Natural Images with Unsupervised Feature Learning",
                    authors="Y. Netzer, T. Wang, A. Coates, A. Bissacco, B. Wu, A. Y. Ng", year=2011,
                    url="http://ufldl.stanford.edu/housenumbers/", key="Netzer2011")
_TINY_PAPER = Paper(title="Tiny ImageNet Visual Recognition Challenge", authors="Y. Le, X. Yang", year=2015,
                    url="http://cs231n.stanford.edu/tiny-imagenet-200.zip", key="Le2015")


def _real(name: str, target: str, shape: tuple[int, int, int], classes: int, summary: str, paper=None) -> DatasetSpec:
    return DatasetSpec(name=name, version="1", target=f"bench.data.{target}", shape=shape, num_classes=classes,
                       summary=summary, paper=paper, embedded=False)


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
        DatasetSpec(
            name="gratings32-shifted", version="1", target="bench.data.targets:GratingsShifted", shape=(3, 32, 32),
            num_classes=10,
            summary="near transfer target: gratings with orientation, frequency and hue moved by shift (0..1, default 0.25)",
        ),
        DatasetSpec(
            name="digits32", version="1", target="bench.data.targets:Digits32", shape=(3, 32, 32), num_classes=10,
            summary="far transfer target: the real digits resized to 32x32 and replicated to RGB",
            paper=_DIGITS_PAPER,
        ),
        _real("cifar10", "cifar:CIFAR10", (3, 32, 32), 10, "CIFAR-10 from local python pickles (50k/10k)", _CIFAR_PAPER),
        _real("cifar100", "cifar:CIFAR100", (3, 32, 32), 100, "CIFAR-100 fine labels from local pickles (50k/10k)",
              _CIFAR_PAPER),
        _real("mnist", "mnist:MNIST", (1, 28, 28), 10, "MNIST from local IDX files (60k/10k)", _MNIST_PAPER),
        _real("fashion-mnist", "mnist:FashionMNIST", (1, 28, 28), 10, "Fashion-MNIST from local IDX files (60k/10k)",
              _FASHION_PAPER),
        _real("svhn", "svhn:SVHN", (3, 32, 32), 10, "SVHN cropped digits from local .mat files (73,257/26,032)",
              _SVHN_PAPER),
        _real("tiny-imagenet", "folder:TinyImageNet", (3, 64, 64), 200,
              "Tiny-ImageNet-200 from the extracted official zip; val = test (100k/10k)", _TINY_PAPER),
        _real("imagefolder", "folder:ImageFolder", (3, 32, 32), 2,
              "any local <root>/train|test/<class>/<image> directory (spec shape and classes are nominal)"),
    ]
