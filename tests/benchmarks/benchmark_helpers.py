"""Helpers shared by the benchmark modules."""
import pytest


def reference_library():
    """torchattacks, the established library compared against (benchmark-only extra). Imported
    when a benchmark needs it, so that collecting a module never skips in the default run."""
    try:
        import torchattacks
    except ImportError:
        pytest.fail("the benchmarks compare against torchattacks: pip install -e '.[bench]'")
    return torchattacks
