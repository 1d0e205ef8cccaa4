"""``robarena show``: full provenance and the row's artifacts and plots with their file paths."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from bench.cli.main import main
from bench.leaderboard.build import build_snapshot
from bench.leaderboard.sources import RunArtifacts
from bench.store.cache import ArtifactCache

PNG = b"\x89PNG\r\n\x1a\n" + b"not really an image, but PNG-signed bytes"


def _snapshot(tmp_path, rows):
    cache = ArtifactCache(tmp_path / "work" / "cache")
    standard = next(r for r in rows if r.defense == "standard")
    artifacts = {**standard.artifacts, "inversion.grid": cache.put_bytes(PNG),
                 "inversion.loss_curve": cache.put_arrays({"loss_curve": np.array([2.0, 1.0])})}
    rows = [r.model_copy(update={"artifacts": artifacts}) if r is standard else r for r in rows]
    source = RunArtifacts(cache=cache, workdir=tmp_path / "work")
    return build_snapshot(rows, "quick", "v1", root=tmp_path / "lb", artifacts=source), standard.row_id


def _show(tmp_path, *extra):
    return main(["show", "quick", "standard", "--version", "v1", "--root", str(tmp_path / "lb"),
                 "--workdir", str(tmp_path / "work"), *extra])


def test_show_json_lists_artifact_and_plot_files(tmp_path, rows, capsys):
    path, row_id = _snapshot(tmp_path, rows)
    assert _show(tmp_path) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["row_id"] == row_id and shown["provenance"]["config_hash"] == "cfg-aaaa"
    files = shown["files"]
    grid = files["artifacts"]["inversion.grid"]
    digest = hashlib.sha256(PNG).hexdigest()
    assert grid["sha256"] == digest
    assert grid["cache"] == str((tmp_path / "work" / "cache" / "objects" / digest[:2] / digest).resolve())
    assert grid["snapshot_check"] == "ok" and open(grid["snapshot"], "rb").read() == PNG
    assert grid["snapshot"].startswith(str(path.resolve() / "artifacts"))
    assert files["artifacts"]["checkpoint"]["cache"] is None  # the fixture's checkpoint hash is not in this cache
    assert "snapshot" not in files["artifacts"]["inversion.loss_curve"]  # arrays become plots, not copies
    kinds = sorted(p["kind"] for p in files["plots"])
    assert kinds == ["curve", "eps-curve", "eps-curve", "eps-curve"]
    assert all(p["check"] == "ok" and p["path"].startswith(str(path.resolve() / "plots")) for p in files["plots"])


def test_show_text_prints_provenance_and_paths(tmp_path, rows, capsys):
    path, row_id = _snapshot(tmp_path, rows)
    curve = next(p for p in (path / "plots").iterdir() if p.name.startswith("curve-"))
    curve.write_bytes(b"edited")
    assert _show(tmp_path, "--format", "text") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"row {row_id}\n")
    for text in ("core_version", "0.1.0", "config_hash", "cfg-aaaa", "data_fingerprint", "digits-1797-abcd",
                 "robarena-classics=0.1.0", "classics/pgd=1", "torch_version", "2.3.0", "platform", "Linux-x86_64",
                 "robust[pgd Linf 0.1]", "probe[margin.mean]", "0.125",
                 # 4567 of 10,000 correct: Clopper-Pearson [44.690, 46.652] %, so ± 0.98
                 "45.67 ± 0.98 %", "4567/10000 correct"):
        assert text in out
    assert f"snapshot: {path.resolve() / 'artifacts'}" in out and "(ok)" in out
    assert f"{curve.resolve()} (modified)" in out


def test_show_needs_one_matching_row(tmp_path, rows, capsys):
    _snapshot(tmp_path, rows)
    assert main(["show", "quick", "seed", "--version", "v1", "--root", str(tmp_path / "lb")]) == 2
    err = capsys.readouterr().err
    assert "3 rows match 'seed'" in err and "digits/mlp/standard/seed0" in err
