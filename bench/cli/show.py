"""``robarena show SUITE ROW``: one row's metrics, full provenance and artifacts, with their files.

Rows come from a leaderboard snapshot (``--version``) or from the latest finished run in
``--workdir``. Besides the row's fields, the output lists where each artifact lies: the
artifact cache of ``--workdir`` (``cache/objects/<h[:2]>/<h>``) and, for a snapshot, its copy
under ``artifacts/`` and every plot that shows the row (``plots/*.png``), each with the result
of its sha256 check against ``meta.json``. ``--format json`` (default) prints the row's JSON
with an added ``files`` object; ``--format text`` prints the same as readable sections.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Optional

from bench.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="print one row's metrics, provenance and artifacts (with their files)")
    p.add_argument("suite", help="suite name")
    p.add_argument("row", help="row id (or a unique substring of it)")
    p.add_argument("--version", default=None, help="leaderboard version (default: latest run in --workdir)")
    p.add_argument("--root", default="leaderboard", help="leaderboard root (default ./leaderboard)")
    p.add_argument("--workdir", default=".robarena", help="run directory whose cache holds the artifacts "
                   "(default: %(default)s)")
    p.add_argument("--format", choices=["json", "text"], default="json", help="output format (default: %(default)s)")
    p.add_argument("--examples", action="store_true", help="per-example outcomes instead: clean, each attack and "
                   "worst case (stored arrays only; `robarena export-examples` adds margins, as JSON lines)")
    p.set_defaults(handler=handle)


def _select(rows: list, wanted: str) -> Any:
    matches = [r for r in rows if r.row_id == wanted] or [r for r in rows if wanted in r.row_id]
    if len(matches) != 1:
        ids = ", ".join(r.row_id for r in rows) or "none"
        raise UsageError(f"{len(matches)} rows match {wanted!r}; give a row id or a substring matching one of: {ids}")
    return matches[0]


def row_files(row: Any, workdir: Path, snapshot: Optional[dict[str, Any]]) -> dict[str, Any]:
    """Where the row's artifacts and plots lie: cache paths (None when not in the cache) and,
    for a snapshot (``{"path", "meta", "status"}``), its copies and plots with their check status."""
    from bench.store.cache import ArtifactCache

    cache = ArtifactCache(workdir / "cache")
    copies: dict[str, dict[str, str]] = {}
    plots: list[dict[str, Any]] = []
    if snapshot is not None:
        base, meta, status = snapshot["path"], snapshot["meta"], snapshot["status"]
        for image in meta.get("images", []):
            if image["row_id"] == row.row_id:
                copies[image["name"]] = {"path": str(base / image["file"]), "check": status.get(image["file"], "unlisted")}
        for fig in meta.get("figures", []):
            if row.row_id in fig["rows"]:
                plots.append({"title": fig["title"], "kind": fig["kind"], "source": fig["source"],
                              "path": str(base / fig["file"]), "check": status.get(fig["file"], "unlisted")})
    artifacts = {}
    for name, digest in sorted(row.artifacts.items()):
        path = cache.path(digest)
        entry: dict[str, Any] = {"sha256": digest, "cache": str(path) if path.is_file() else None}
        if name in copies:
            entry["snapshot"] = copies[name]["path"]
            entry["snapshot_check"] = copies[name]["check"]
        artifacts[name] = entry
    return {"artifacts": artifacts, "plots": plots}


def _metric_text(name: str, row: Any) -> str:
    """An accuracy with its interval and count (``48.8 ± 4.5 %  (244/500 correct, ...)``), else the value."""
    from bench.leaderboard.render import MISSING, describe_accuracy, format_accuracy, format_value
    from bench.rows.frame import is_accuracy

    if not is_accuracy(name):
        return format_value(name, row.metric_columns().get(name))
    acc = {**row.accuracies(), **row.mean_accuracies()}.get(name)
    return MISSING if acc is None else f"{format_accuracy(acc)} %  ({describe_accuracy(acc)})"


def _text(row: Any, files: dict[str, Any]) -> str:
    import textwrap

    from bench.cli.tables import key_value_text, terminal_width

    width = terminal_width()
    metrics = [(name, _metric_text(name, row)) for name in row.metric_columns()]
    prov = []
    for name, value in row.provenance.model_dump().items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "none"
        prov.append((name, str(value)))
    parts = [
        f"row {row.row_id}",
        textwrap.fill(f"dataset {row.dataset} ({row.dataset_id}), model {row.model} ({row.model_id}), "
                      f"defense {row.defense} ({row.defense_id}), seed {row.seed}", width,
                      initial_indent="  ", subsequent_indent="  "),
        "", "metrics:", key_value_text(metrics, width),
        "", "flags: " + (", ".join(row.flags) or "none"),
        "errors: " + ("\n  " + "\n  ".join(row.errors) if row.errors else "none"),
        "", "provenance:", key_value_text(prov, width), "", "artifacts:",
    ]
    if not files["artifacts"]:
        parts.append("  none")
    for name, entry in files["artifacts"].items():
        parts.append(f"  {name}  sha256 {entry['sha256']}")
        parts.append(f"    cache: {entry['cache'] or '(not in this workdir cache)'}")
        if "snapshot" in entry:
            parts.append(f"    snapshot: {entry['snapshot']} ({entry['snapshot_check']})")
    if files["plots"]:
        parts += ["", "plots:"] + [f"  {p['path']} ({p['check']})\n    {p['title']}" for p in files["plots"]]
    return "\n".join(parts)


def _show_examples(args: argparse.Namespace) -> int:
    """``show SUITE ROW --examples``: the row's per-example table from the latest run in ``--workdir``."""
    from bench.cli.examples_cmd import format_examples
    from bench.runner.examples import examples

    if args.version:
        raise UsageError("--examples reads the per-example arrays of the latest run in --workdir; drop --version")
    print(format_examples(list(examples(args.suite, args.row, workdir=args.workdir, margins=False,
                                        plugins=args.plugins))))
    return 0


def handle(args: argparse.Namespace) -> int:
    if args.examples:
        return _show_examples(args)
    snapshot = None
    if args.version:
        from bench.leaderboard.build import check_files, load_snapshot, read_meta, snapshot_dir

        root = Path(args.root)
        rows = load_snapshot(root, args.suite, args.version)
        snapshot = {"path": snapshot_dir(root, args.suite, args.version).resolve(),
                    "meta": read_meta(root, args.suite, args.version),
                    "status": check_files(root, args.suite, args.version)}
    else:
        from bench.runner.results import load_rows

        rows = load_rows(args.workdir, args.suite)
    row = _select(rows, args.row)
    files = row_files(row, Path(args.workdir).resolve(), snapshot)
    if args.format == "text":
        print(_text(row, files))
    else:
        print(json.dumps({**row.model_dump(mode="json"), "files": files}, indent=2, ensure_ascii=False))
    return 0
