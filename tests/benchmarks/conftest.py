"""Benchmark helpers: a ratio table (each implementation's mean over its group's floor) at the end."""
from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict = {}
    for bench in session.benchmarks:
        if not getattr(bench.stats, "data", None):  # a benchmark whose test failed before timing
            continue
        groups.setdefault(bench.group, []).append(bench)
    lines = []
    for group, items in sorted(groups.items(), key=lambda kv: str(kv[0])):
        floor = next((b for b in items if "floor" in b.name), None) or \
            next((b for b in items if "naive" in b.name), None)
        if floor is None:
            continue
        base = floor.stats.mean
        for b in sorted(items, key=lambda b: b.stats.mean):
            extra = ", ".join(f"{k}={v}" for k, v in sorted(b.extra_info.items()))
            lines.append(f"{group:28} {b.name:48} {b.stats.mean * 1e3:10.1f} ms  {b.stats.mean / base:6.2f}x base  {extra}")
    if lines:
        terminalreporter.section("robarena ratios (mean / floor of the group, or / the naive loop where there is no floor)")
        for line in lines:
            terminalreporter.write_line(line)
