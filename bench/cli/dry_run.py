"""The table ``robarena run SUITE --dry-run`` prints (:mod:`bench.runner.estimate` builds the estimate)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence, TextIO

from bench.cli.tables import _bare_table, console, print_all

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import RenderableType

    from bench.api.cost import Cost
    from bench.runner.estimate import DryRun


def passes(x: Optional[float]) -> str:
    """A pass count with an SI suffix (``1.5M``, ``2.08G``); ``?`` when unknown."""
    if x is None:
        return "?"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:g}"


def hours(x: Optional[float]) -> str:
    if x is None:
        return "?"
    if x == 0:
        return "0"
    return f"{x:,.0f}" if x >= 100 else (f"{x:.3g}" if x >= 0.001 else "<0.001")


def _cost_cells(c: Optional["Cost"]) -> tuple[str, str]:
    return (passes(None), passes(None)) if c is None else (passes(c.forward), passes(c.backward))


def dry_run_view(est: "DryRun") -> list["RenderableType"]:
    from rich.text import Text

    out: list[RenderableType] = [Text(f"dry run of suite {est.suite!r} against {est.workdir}: nothing is computed "
                                      "or stored")]
    for label, text in est.datasets.items():
        out.append(Text(f"dataset {label}: {text}"))
    rows: dict[str, list] = {}
    for c in est.cells:
        rows.setdefault(c.row_id, []).append(c)
    for row_id, cells in rows.items():  # one table per leaderboard row, titled with its row id
        table = _bare_table()
        table.title, table.title_justify, table.title_style = row_id, "left", "bold"
        for name, right in (("cell", False), ("status", False), ("budget", False), ("forward", True),
                            ("backward", True), ("CPU h", True), (f"{est.gpu.split()[-1]} h", True)):
            table.add_column(name, justify="right" if right else "left", no_wrap=right, overflow="fold")
        for c in cells:
            status = {"cached": "cached", "compute": "to compute", "unknown": "to compute?"}[c.status]
            basis = " (default cost)" if c.basis == "default" else ""
            f, b = _cost_cells(c.counted)
            table.add_row(Text(c.name), Text(status), Text(c.budget + basis), Text(f), Text(b),
                          Text(hours(c.cpu_hours) if c.counted is not None else "?"),
                          Text(hours(c.gpu_hours) if c.counted is not None else "?"))
        out.append(table)
    total = est.total
    n = len(est.cells)
    cached = sum(c.status == "cached" for c in est.cells)
    out.append(Text(f"{n} cell(s): {cached} cached, {n - cached} to compute; {len(est.unknown)} of unknown cost "
                    "(not in the totals)"))
    out.append(Text(f"total: {passes(total.forward)} forward + {passes(total.backward)} backward example passes; "
                    f"estimated {hours(est.cpu_hours)} h on this CPU, {hours(est.gpu_hours)} h on one {est.gpu}"))
    if est.throughput:
        tp = _bare_table()
        for name in ("model", "input", "batch", "forward ms/ex", "backward ms/ex", "GFLOP/ex fwd"):
            tp.add_column(name, justify="left" if name in ("model", "input") else "right")
        for label, t in est.throughput.items():
            tp.add_row(label, "x".join(map(str, t.shape)), str(t.batch), f"{1e3 * t.forward_s:.3g}",
                       f"{1e3 * t.backward_s:.3g}", "?" if t.forward_flops is None else f"{t.forward_flops / 1e9:.3g}")
        threads = next(iter(est.throughput.values())).threads
        out.append(Text(f"throughput measured here, now, on this CPU ({threads} thread(s); random batches, smallest "
                        "of a few timings):"))
        out.append(tp)
    out.append(Text(f"GPU hours are an assumption, not a measurement: forward FLOPs counted per example, backward "
                    f"2x forward, at {est.gpu_tflops:g} TFLOP/s sustained on one {est.gpu} (--gpu-tflops). "
                    "Costs are upper bounds (no early stop); hours scale the passes by the measured or assumed "
                    "speed and leave out data loading and evaluation overheads."))
    for what, why in est.dropped:
        out.append(Text(f"dropped {what}: {why}"))
    for what, why in est.notes:
        out.append(Text(f"note: {what}: {why}"))
    return out


def print_dry_run(est: "DryRun", stream: Optional[TextIO] = None) -> None:
    out = console(stream)
    print_all(dry_run_view(est), out)


__all__: Sequence[str] = ["dry_run_view", "print_dry_run", "passes", "hours"]
