"""Import cost contract, CLI usage errors."""
import subprocess
import sys

from bench.cli.main import main


def test_import_bench_imports_neither_torch_nor_plugins():
    code = ("import sys, bench; bad = [m for m in ('torch', 'pluggy', 'pydantic', 'bench.registry') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_unknown_suite_is_a_usage_error_with_a_hint(capsys, testkit):
    code = main(["-p", "robarena_testkit", "run", "no-such-suite", "--workdir", "/tmp/unused-robarena"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ERROR: unknown suite 'no-such-suite'")
    assert "robarena ls" in err


def test_malformed_suite_file_is_reported(tmp_path, capsys, testkit):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[[datasets]\n")
    assert main(["-p", "robarena_testkit", "run", str(bad), "--workdir", str(tmp_path / "w")]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_suite_file_with_unknown_key(tmp_path, capsys, testkit):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\nseeds = [0]\nepochz = 3\n[[pretrained]]\nlabel='a'\narch='x:y'\n"
                   "checkpoint='c.pt'\ndataset='core/digits'\n")
    assert main(["-p", "robarena_testkit", "run", str(bad), "--workdir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "epochz: unknown key" in err
