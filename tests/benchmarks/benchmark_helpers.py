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


#: extra tables printed at the end of a benchmark run (title -> lines), filled by the modules
SUMMARIES = pytest.StashKey[dict]()


def add_summary(config, title: str, lines: list) -> None:
    """Print ``lines`` under ``title`` in the terminal summary (replaces an earlier table of that title).
    Test-phase output is captured, so tables go through conftest's ``pytest_terminal_summary``."""
    config.stash.setdefault(SUMMARIES, {})[title] = list(lines)
