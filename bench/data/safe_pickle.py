"""A restricted unpickler for data files that are pickles by format (the CIFAR python batches).

``pickle.load`` runs whatever callables a file names, so a planted batch file executes code.
Python's documented remedy is an ``Unpickler`` whose ``find_class`` admits only known globals:
here the numpy array and dtype reconstructors that CIFAR's files contain (and the ``bytes``
decoder of protocol-2 pickles written by Python 3). Every other global — ``os.system``,
``builtins.eval``, any class — is refused with :class:`UnsafePickleError` before it is looked
up. Written by hand because neither numpy, torchvision nor the standard library ships a
restricted loader for plain numpy payloads (``torch.load(weights_only=True)`` reads torch's own
zip format only).
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from bench.errors import DatasetChecksumError

# (module, name) pairs a numpy-array pickle needs; numpy 2 renamed numpy.core to numpy._core.
_ALLOWED = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol 2 spells bytes as _codecs.encode(str, 'latin1')
})


class UnsafePickleError(DatasetChecksumError):
    """A data file's pickle names a global outside the admitted numpy reconstructors."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(f"it names {module}.{name}, which a data file never needs")
        return super().find_class(module, name)


def load_data_pickle(path: Path, what: str) -> Any:
    """Unpickle ``path`` admitting only plain values and numpy arrays (never code).

    ``what`` names the dataset in the error. Raises :class:`UnsafePickleError` naming the file
    when it holds anything else or is not a readable pickle.
    """
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding="latin1").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(
            f"{what}: refusing {path}: {exc}. It is not an official batch file (robarena never executes "
            "code from data files); replace it with the file from the official archive.") from None
    except Exception as exc:  # truncated, garbage, wrong protocol: name the file
        raise UnsafePickleError(
            f"{what}: {path} is not a readable batch file ({type(exc).__name__}: {exc}); "
            "replace it with the file from the official archive.") from None
