"""Immutable leaderboard snapshots: ``<root>/<suite>/<version>/``.

A snapshot holds ``rows.jsonl`` (the data: validated, sorted by row id), ``rows.csv``,
``README.md`` and ``meta.json`` (with the sha256 of ``rows.jsonl``). Snapshots built since the
web page was added also hold ``rows.tex`` (LaTeX table), ``index.html`` (static page, see
:mod:`bench.leaderboard.html`), ``plots/*.png`` (:mod:`bench.leaderboard.plots`) and
``artifacts/*.png`` (task images), with every file's sha256 and the plot list in ``meta.json``
(``files``, ``figures``, ``images``, ``plot_notes``); older snapshots stay readable as they are.
Built with an earlier version to compare against, a snapshot also holds ``compare-<old>.html``
(:mod:`bench.leaderboard.compare_page`); the suite's description and the claims' verdicts, when
given, are on the page and in ``meta.json`` (``description``, ``claims``).
Snapshots are written with row schema :data:`~bench.rows.schema.SCHEMA_VERSION` (2) and read in
any of :data:`~bench.rows.io.READABLE_VERSIONS`: schema-1 rows (e.g. the published
``leaderboard/quick/1/``) are upgraded in memory by :mod:`bench.rows.io`, never rewritten on disk.
It is written into a temporary directory beside its final place and renamed into place, so a
crash never leaves half a snapshot, and an existing version is never overwritten (the folder
a killed build leaves is removed by the next build: :mod:`bench.leaderboard.staging`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from bench.errors import LeaderboardError
from bench.leaderboard import render
from bench.rows.frame import to_frame
from bench.rows.io import READABLE_VERSIONS, RowLike, dumps_jsonl, loads_jsonl, validate_rows
from bench.rows.schema import SCHEMA_VERSION, Row
from bench.leaderboard.sources import RunArtifacts
from bench.leaderboard.staging import check_root, make_staging_dir
from bench.runner.suite import MAX_NAME_LENGTH

__all__ = ["build_snapshot", "load_snapshot", "read_meta", "list_versions", "list_suites",
           "snapshot_dir", "is_valid_name", "to_frame", "check_files", "DEFAULT_ROOT", "RunArtifacts"]

DEFAULT_ROOT = Path("leaderboard")
ROWS, CSV, README, META = "rows.jsonl", "rows.csv", "README.md", "meta.json"
TEX, INDEX = "rows.tex", "index.html"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def is_valid_name(value: str) -> bool:
    """True for a usable suite or version directory name."""
    return isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and bool(_NAME.fullmatch(value))


def _check_name(kind: str, value: str) -> str:
    if isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
        raise LeaderboardError(f"invalid {kind} {value[:24]!r}... ({len(value)} characters): use at most "
                               f"{MAX_NAME_LENGTH} (e.g. 'v1', '2024.06')")
    if not is_valid_name(value):
        raise LeaderboardError(
            f"invalid {kind} {value!r}: use letters, digits, '.', '_' and '-', starting with a letter "
            f"or digit (e.g. 'v1', '2024.06', '1.0-rc1')")
    return value


def snapshot_dir(root: Union[str, Path], suite: str, version: str) -> Path:
    """Where a snapshot lives (names validated; a root that is a file is refused)."""
    return check_root(root) / _check_name("suite name", suite) / _check_name("version", version)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_site(tmp: Path, rows: list[Row], suite: str, version: str, created: str, notes: str,
                artifacts: RunArtifacts, description: str = "", claims: Optional[list[dict[str, Any]]] = None,
                previous: Optional[tuple[str, list[Row]]] = None) -> dict[str, Any]:
    """rows.tex, plots/*.png, artifacts/*.png, the compare page (with ``previous``: old version and its
    rows) and index.html into ``tmp``; their entries for meta.json."""
    from bench.leaderboard import html, plots
    from bench.leaderboard.grids import grid_layout
    from bench.leaderboard.sources import task_artifacts

    _write(tmp / TEX, render.to_latex(rows))
    groups: plots.ArrayGroups = {}
    images: list[plots.ArtifactImage] = []
    layouts = {}
    for row in rows:
        named = {("probe", label): arrays for label, arrays in artifacts.probe_arrays.get(row.row_id, {}).items()}
        pngs, task_arrays = task_artifacts(row.artifacts, artifacts, row.row_id)
        named.update({("task", label): arrays for label, arrays in task_arrays.items()})
        if named:
            groups[row.row_id] = named
        for name, data in pngs.items():
            image = plots.ArtifactImage(row.row_id, name, _sha256(data))
            _write_bytes(tmp / image.file, data)
            images.append(image)
            if grid_layout(data):
                layouts[image.file] = grid_layout(data)
    specs, plot_notes = plots.collect(rows, groups)
    for spec in specs:
        _write_bytes(tmp / spec.file, plots.to_png(spec))
    downloads = [ROWS, CSV, TEX, README, META]
    compare = None
    if previous is not None:
        from bench.leaderboard.compare_page import render_compare
        from bench.leaderboard.diff import diff_snapshots

        compare = (previous[0], compare_file(previous[0]))
        _write(tmp / compare[1], render_compare(diff_snapshots(previous[1], rows), suite=suite, old=previous[0],
                                                new=version, links=(f"../{previous[0]}/{INDEX}", INDEX)))
    _write(tmp / INDEX, html.render_index(rows, suite=suite, version=version, created=created, notes=notes,
                                          plots=specs, images=images, downloads=downloads,
                                          schema_version=SCHEMA_VERSION, description=description, claims=claims,
                                          layouts=layouts, compare=compare))
    files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())

    def image_entry(i: plots.ArtifactImage) -> dict[str, Any]:
        entry: dict[str, Any] = {"file": i.file, "row_id": i.row_id, "name": i.name, "sha256": i.sha256}
        layout = layouts.get(i.file)
        if layout is not None:
            entry.update(grid_rows=list(layout.rows), grid_columns=list(layout.columns))
        return entry

    out = {
        "files": {name: _sha256((tmp / name).read_bytes()) for name in files},
        "figures": [{"file": s.file, "kind": s.kind, "title": s.title, "source": s.source, "rows": list(s.rows)}
                    for s in specs],
        "images": [image_entry(i) for i in images],
        "plot_notes": plot_notes,
    }
    if compare is not None:
        out["compare"] = {"old": compare[0], "file": compare[1]}
    return out


def compare_file(old: str) -> str:
    """The compare page's name inside a snapshot built with an earlier version ``old``."""
    return f"compare-{old}.html"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _exists_error(final: Path) -> LeaderboardError:
    return LeaderboardError(
        f"leaderboard version {final.name!r} of suite {final.parent.name!r} already exists at {final}; "
        "snapshots are immutable: choose a new --version (see `robarena leaderboard ls "
        f"{final.parent.name}`)")


def _check_suite(rows: list[Row], suite: str) -> None:
    other = sorted({r.provenance.suite for r in rows} - {suite})
    if other:
        raise LeaderboardError(
            f"rows come from suite(s) {', '.join(map(repr, other))}, not {suite!r}; "
            "build each suite's leaderboard from its own results")


def build_snapshot(rows: Iterable[RowLike], suite: str, version: str, root: Union[str, Path] = DEFAULT_ROOT,
                   notes: str = "", *, created: Optional[str] = None, artifacts: Optional[RunArtifacts] = None,
                   site: bool = True, description: str = "", claims: Optional[Iterable[Any]] = None,
                   compare_with: Optional[str] = None) -> Path:
    """Validate ``rows`` and write the snapshot ``root/suite/version/`` atomically; return its path.

    ``created`` (ISO 8601) defaults to now in UTC. ``artifacts`` (probe arrays and the artifact
    cache of the run the rows come from, :meth:`RunArtifacts.from_workdir`) feeds histogram and
    per-layer plots and the task images; without it plots use the rows alone. ``site=False``
    writes only the data files (rows.jsonl, rows.csv, README.md, meta.json). For the web page:
    ``description`` is the suite's description; ``claims`` the claims' outcomes on these rows
    (:func:`bench.claims.evaluate_claims`, or ``outcomes_json`` records), shown with their
    verdicts and kept in ``meta.json``; ``compare_with`` an existing version of the suite, against
    which the snapshot gets a compare page (``compare-<old>.html``, :mod:`bench.leaderboard.compare_page`).
    Raises :class:`LeaderboardError` on an invalid row or name, on rows of another suite, when the
    version already exists, and when ``compare_with`` is this version or cannot be read.
    """
    final = snapshot_dir(root, suite, version)
    rows = validate_rows(rows)
    _check_suite(rows, suite)
    if final.exists():
        raise _exists_error(final)
    previous = None
    if compare_with is not None and site:
        if compare_with == version:
            raise LeaderboardError(f"cannot compare version {version!r} with itself: name an earlier version")
        previous = (compare_with, load_snapshot(root, suite, compare_with))
    claim_list = None
    if claims is not None:
        from bench.leaderboard.html import claim_records

        claim_list = claim_records(claims)
    created = created or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    jsonl = dumps_jsonl(rows)
    meta = {
        "suite": suite, "version": version, "created": created, "schema_version": SCHEMA_VERSION,
        "row_count": len(rows), "rows_sha256": _sha256(jsonl.encode("utf-8")), "notes": notes,
    }
    if description:
        meta["description"] = description
    if claim_list is not None:
        meta["claims"] = claim_list
    tmp = make_staging_dir(final.parent, version)  # removes the folders of killed builds first
    try:
        _write(tmp / ROWS, jsonl)
        _write(tmp / CSV, render.to_csv(rows))
        _write(tmp / README, render.render_readme(rows, suite, version, created, notes))
        if site:
            meta.update(_write_site(tmp, rows, suite, version, created, notes, artifacts or RunArtifacts.empty(),
                                    description, claim_list, previous))
        _write(tmp / META, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        if final.exists():  # another build won the race
            raise _exists_error(final)
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if final.exists():
                raise _exists_error(final) from None
            raise LeaderboardError(f"could not move the snapshot into place at {final}: {exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(final.parent)
    return final


def read_meta(root: Union[str, Path], suite: str, version: str) -> dict[str, Any]:
    """A snapshot's ``meta.json``; a clear error if the snapshot is missing or the file unreadable."""
    path = snapshot_dir(root, suite, version)
    if not path.is_dir():
        known = list_versions(root, suite)
        hint = f"available: {', '.join(known)}" if known else f"no versions of suite {suite!r} under {Path(root)}"
        raise LeaderboardError(f"leaderboard version {version!r} of suite {suite!r} not found at {path} ({hint})")
    try:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LeaderboardError(f"snapshot {path} is corrupted: cannot read {META} ({exc})") from None
    if not isinstance(meta, dict):
        raise LeaderboardError(f"snapshot {path} is corrupted: {META} is not a JSON object")
    missing = {"suite", "version", "schema_version", "row_count", "rows_sha256"} - set(meta)
    if missing:
        raise LeaderboardError(f"snapshot {path} is corrupted: {META} lacks {', '.join(sorted(missing))}")
    return meta


def load_snapshot(root: Union[str, Path], suite: str, version: str) -> list[Row]:
    """The rows of a snapshot, verified against ``meta.json`` (sha256, count, schema) and re-validated."""
    path = snapshot_dir(root, suite, version)
    meta = read_meta(root, suite, version)
    where = f"snapshot {path} is corrupted"
    if (meta["suite"], meta["version"]) != (suite, version):
        raise LeaderboardError(f"{where}: {META} says suite {meta['suite']!r} version {meta['version']!r}")
    if meta["schema_version"] not in READABLE_VERSIONS:
        raise LeaderboardError(
            f"snapshot {path} uses row schema {meta['schema_version']!r}; this robarena reads "
            f"{' and '.join(map(repr, READABLE_VERSIONS))}: install the robarena version that wrote it")
    try:
        data = (path / ROWS).read_bytes()
    except OSError as exc:
        raise LeaderboardError(f"{where}: cannot read {ROWS} ({exc})") from None
    digest = _sha256(data)
    if digest != meta["rows_sha256"]:
        raise LeaderboardError(
            f"{where}: {ROWS} has sha256 {digest} but {META} records {meta['rows_sha256']}; snapshots are "
            "immutable: restore the file (e.g. `git checkout`) or build a new version")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LeaderboardError(f"{where}: {ROWS} is not UTF-8 ({exc})") from None
    _check_row_schema(text, meta["schema_version"], f"{where}: {ROWS}")
    rows = loads_jsonl(text, where=str(path / ROWS))  # schema-1 rows are upgraded here
    if len(rows) != meta["row_count"]:
        raise LeaderboardError(f"{where}: {ROWS} holds {len(rows)} rows, {META} records {meta['row_count']}")
    return rows


def _check_row_schema(text: str, version: str, where: str) -> None:
    """Every line of ``rows.jsonl`` declares the schema version ``meta.json`` records."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found = json.loads(line).get("schema_version")
        except (ValueError, AttributeError):
            continue  # not a JSON object: loads_jsonl names the line and the problem
        if found != version:
            raise LeaderboardError(f"{where} line {lineno} has row schema {found!r} but {META} records {version!r}; "
                                   "snapshots are immutable: restore the files or build a new version")


def check_files(root: Union[str, Path], suite: str, version: str) -> dict[str, str]:
    """Each file ``meta.json`` lists (snapshots with a web page) -> 'ok', 'missing' or 'modified'."""
    path = snapshot_dir(root, suite, version)
    out = {}
    for name, digest in (read_meta(root, suite, version).get("files") or {}).items():
        try:
            data = (path / name).read_bytes()
        except OSError:
            out[name] = "missing"
            continue
        out[name] = "ok" if _sha256(data) == digest else "modified"
    return out


def _natural_key(name: str) -> list[Any]:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def list_versions(root: Union[str, Path], suite: str) -> list[str]:
    """Versions of a suite's leaderboard (directories with a ``meta.json``), in natural order."""
    base = Path(root) / _check_name("suite name", suite)
    if not base.is_dir():
        return []
    found = [p.name for p in base.iterdir() if p.is_dir() and _NAME.fullmatch(p.name) and (p / META).is_file()]
    return sorted(found, key=_natural_key)


def list_suites(root: Union[str, Path]) -> list[str]:
    """Suites with at least one snapshot under ``root``."""
    base = Path(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and _NAME.fullmatch(p.name) and list_versions(base, p.name))
