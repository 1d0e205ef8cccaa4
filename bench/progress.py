"""Progress that follows one rule: bars only where someone watches them.

On a terminal (stderr is a TTY, or a Jupyter kernel) progress is a tqdm bar. Anywhere else — a
log file, a pipe, CI — there is no bar, so no carriage-return frames and no cursor escapes: the
runner prints one plain line per finished cell (:class:`CellProgress`), and training and task
loops print nothing. ``enabled=False`` (``--no-progress``) turns both off.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Optional, TextIO

#: longest cell id the bar shows (its end: the part that differs between cells)
DESC_WIDTH = 60


def stderr_is_terminal() -> bool:
    """Whether progress bars have a reader: stderr is a terminal, or this runs in a Jupyter kernel."""
    try:
        if sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # replaced or closed stderr
        pass
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and hasattr(shell, "kernel")


class NullBar:
    """What :func:`progress_bar` returns when no bar is shown: the tqdm calls robarena uses, drawing nothing."""

    def __init__(self, total: Optional[int] = None) -> None:
        self.total, self.n = total, 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_description_str(self, desc: Optional[str] = None, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "NullBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(total: Optional[int], desc: str, unit: str = "it", enabled: bool = True, leave: bool = False,
                 initial: int = 0) -> Any:
    """A tqdm bar on stderr when ``enabled`` and :func:`stderr_is_terminal`; else a :class:`NullBar`.

    Use it as a context manager or call ``close()``; ``update(n)`` advances it either way."""
    if not (enabled and stderr_is_terminal()):
        bar = NullBar(total)
        bar.n = initial
        return bar
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=leave, initial=initial, dynamic_ncols=True)


def short(cell_id: str, width: int = DESC_WIDTH) -> str:
    return cell_id if len(cell_id) <= width else "…" + cell_id[-(width - 1):]


class CellProgress:
    """Progress over a run's cells. On a terminal a bar that names the cell that is *running*
    (:meth:`start` sets it before the cell runs); elsewhere one line per finished cell on ``stream``
    (default stderr): ``[3/14] digits/small-cnn/standard/seed0 :: pgd Linf 0.1  ok  2.1s``."""

    def __init__(self, total: int, desc: str, enabled: bool = True, stream: Optional[TextIO] = None) -> None:
        self.total, self.done = total, 0
        self.bar = progress_bar(total, desc, unit="cell", enabled=enabled, leave=True)
        self.lines = enabled and isinstance(self.bar, NullBar)
        self.stream = stream
        self._started: Optional[float] = None

    def start(self, cell_id: str) -> None:
        self._started = time.perf_counter()
        self.bar.set_description_str(short(cell_id))

    def finish(self, cell_id: str, status: str) -> None:
        """Count a finished cell; ``status``: ``ok`` (computed), ``cached`` or ``FAILED``. The line gives the
        seconds since :meth:`start` (none for a cell that was not started: one failed upstream, a Ray task)."""
        self.done += 1
        took = f"  {time.perf_counter() - self._started:.1f}s" if self._started is not None else ""
        self._started = None
        self.bar.update(1)
        if self.lines:
            print(f"[{self.done}/{self.total}] {cell_id}  {status}{took}", file=self.stream or sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()
