"""Bad paths and names on the command line: each an ``ERROR:`` line naming the problem and the fix,
exit 2, no traceback, and nothing stored changed (issue #17, item 8)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli.main import main
from store_helpers import SUITE_TOML, cli_child, digest_tree, make_read_only, make_writable, workdir  # noqa: F401

ROW = "digits/tiny-linear/erm/seed0"


def refused(capsys, argv: list[str], *needles: str) -> str:
    """Run ``robarena ARGV``; assert exit 2 and an ERROR line holding every needle; return the message."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("ERROR: ") and "Traceback" not in out + err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture
def suite_file(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE_TOML, encoding="utf-8")
    return path


def test_a_workdir_that_is_a_file(tmp_path, capsys, suite_file, testkit):
    plain = tmp_path / "notes.txt"
    plain.write_text("my notes\n")
    for argv in (["run", str(suite_file)], ["show", "tiny", "x"], ["store", "check"], ["store", "runs"],
                 ["leaderboard", "build", "tiny", "--version", "v1", "--root", str(tmp_path / "lb")],
                 ["eval", "--arch", "tiny-linear", "--checkpoint", "c.safetensors", "--dataset", "core/digits",
                  "--attack", "sign:Linf:0.1"]):
        refused(capsys, ["-p", testkit[0], *argv, "--workdir", str(plain)], f"--workdir {plain} is a file",
                "pass a directory")
    refused(capsys, ["show", "tiny", "x", "--workdir", str(plain / "sub")], f"--workdir {plain / 'sub'}",
            "a parent of it is a file")
    assert plain.read_text() == "my notes\n" and not (tmp_path / "lb").exists()


def test_a_results_database_that_is_a_directory(tmp_path, capsys, suite_file, testkit):
    wd = tmp_path / "wd"
    (wd / "results.sqlite").mkdir(parents=True)
    (wd / "results.sqlite" / "keep.txt").write_text("kept\n")
    before = digest_tree(wd)
    for argv in (["show", "tiny", "x"], ["store", "check"], ["store", "check", "--repair"], ["store", "runs"],
                 ["leaderboard", "build", "tiny", "--version", "v1", "--root", str(tmp_path / "lb")],
                 ["-p", testkit[0], "run", str(suite_file)]):
        refused(capsys, [*argv, "--workdir", str(wd)], f"{wd / 'results.sqlite'} is a directory",
                "move it aside")
    assert digest_tree(wd) == before


def test_a_results_database_with_a_corrupted_header(workdir, tmp_path, capsys, suite_file, testkit):
    db = workdir / "results.sqlite"
    data = bytearray(db.read_bytes())
    data[:16] = b"not sqlite at al"
    db.write_bytes(bytes(data))
    before = digest_tree(workdir)
    for argv in (["show", "tiny", ROW], ["store", "check"], ["store", "check", "--repair"], ["store", "runs"],
                 ["leaderboard", "build", "tiny", "--version", "v1", "--root", str(tmp_path / "lb")],
                 ["-p", testkit[0], "run", str(suite_file)]):
        refused(capsys, [*argv, "--workdir", str(workdir)], f"{db} cannot be read as a results database",
                "file is not a database", "restore it from a backup", "run the suite again")
    assert digest_tree(workdir) == before  # the damaged file is left exactly as it was
    assert not (tmp_path / "lb" / "tiny" / "v1").exists()


def test_a_read_only_workdir_is_shown_and_built_from_but_not_run_in(workdir, tmp_path, suite_file):
    from bench.store.liveness import host_tag, this_host

    root = tmp_path / "lb"
    killed = root / "tiny" / f".v0.999999999-{host_tag(this_host())}.abcd1234.tmp"  # pid beyond any pid_max
    killed.mkdir(parents=True)
    make_read_only(workdir)
    before = digest_tree(workdir)
    try:
        show, build, check, run, repair = cli_child(
            ["show", "tiny", ROW, "--workdir", str(workdir), "--format", "text"],
            ["leaderboard", "build", "tiny", "--version", "v1", "--workdir", str(workdir), "--root", str(root)],
            ["store", "check", "--workdir", str(workdir)],
            ["run", str(suite_file), "--workdir", str(workdir)],
            ["store", "check", "--workdir", str(workdir), "--repair"],
            cwd=tmp_path, unprivileged=True)
        assert digest_tree(workdir) == before
    finally:
        make_writable(workdir)
    assert (show["code"], build["code"], check["code"]) == (0, 0, 0), (show, build, check)
    assert f"row {ROW}" in show["out"]
    assert (root / "tiny" / "v1" / "meta.json").is_file() and not killed.exists()
    assert "no problems found" in check["out"]
    for result, needle in ((run, f"--workdir {workdir} cannot be written"), (repair, f"work directory {workdir} is "
                                                                                    "read-only")):
        assert result["code"] == 2 and result["err"].startswith("ERROR: ") and needle in result["err"], result
        assert "Traceback" not in result["out"] + result["err"]


def test_a_binary_suite_file(workdir, tmp_path, capsys, testkit):
    binary = tmp_path / "suite.toml"
    binary.write_bytes(bytes(range(128, 256)))
    before = digest_tree(workdir)
    refused(capsys, ["-p", testkit[0], "run", str(binary), "--workdir", str(workdir)],
            f"suite file '{binary}' is not UTF-8 text (byte 0x80 at offset 0)")
    refused(capsys, ["leaderboard", "build", str(binary), "--version", "v1", "--workdir", str(workdir), "--root",
                     str(tmp_path / "lb")], "is not UTF-8 text")
    assert digest_tree(workdir) == before


def test_a_300_character_version(workdir, tmp_path, capsys):
    from bench.leaderboard.build import is_valid_name

    root = tmp_path / "lb"
    refused(capsys, ["leaderboard", "build", "tiny", "--version", "v" * 300, "--workdir", str(workdir), "--root",
                     str(root)], "invalid version", "(300 characters): use at most 100")
    assert not root.exists() or not any(root.rglob("*"))
    assert is_valid_name("v" * 100) and not is_valid_name("v" * 101)


def test_a_root_that_is_a_file(workdir, tmp_path, capsys):
    plain = tmp_path / "lb.txt"
    plain.write_text("not a leaderboard\n")
    for argv in (["leaderboard", "build", "tiny", "--version", "v1", "--workdir", str(workdir)],
                 ["leaderboard", "ls"], ["leaderboard", "export", "tiny", "v1", "--format", "csv"],
                 ["leaderboard", "diff", "tiny", "v1", "v2"],
                 ["show", "tiny", ROW, "--version", "v1", "--workdir", str(workdir)]):
        refused(capsys, [*argv, "--root", str(plain)], f"--root {plain} is a file", "pass a directory")
    assert plain.read_text() == "not a leaderboard\n"


def test_a_root_that_is_a_file_through_the_python_api(tmp_path):
    from bench.errors import LeaderboardError
    from bench.leaderboard.build import build_snapshot

    plain = tmp_path / "lb.txt"
    plain.write_text("x")
    with pytest.raises(LeaderboardError, match=r"leaderboard root .*lb.txt/deeper is not a directory \(its parent"):
        build_snapshot([], "tiny", "v1", root=plain / "deeper")


def test_a_5000_character_suite_name(workdir, tmp_path, capsys, testkit):
    long_name = "a" * 5000
    suite = tmp_path / "long.toml"
    suite.write_text(SUITE_TOML.replace('name = "tiny"', f'name = "{long_name}"'), encoding="utf-8")
    before = digest_tree(workdir)
    err = refused(capsys, ["-p", testkit[0], "run", str(suite), "--workdir", str(workdir)],
                  "suite name 'aaaaaaaaaaaaaaaaaaaaaaaa'... is 5000 characters long; use at most 100")
    assert len(err) < 500  # the name is not echoed in full
    for argv in (["-p", testkit[0], "run", long_name, "--workdir", str(workdir)],
                 ["leaderboard", "build", long_name, "--version", "v1", "--workdir", str(workdir), "--root",
                  str(tmp_path / "lb")]):
        err = refused(capsys, argv, "(5000 characters) is neither a suite name nor a readable file",
                      "at most 100 characters")
        assert len(err) < 500
    assert digest_tree(workdir) == before
