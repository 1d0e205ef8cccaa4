"""CLI: ls, validate, mock-run, show and exit codes."""
import json

from runner_helpers import tiny_suite

import bench
from bench.cli.main import main


def test_ls_lists_components_with_versions_and_distributions(capsys, testkit):
    assert main(["-p", "robarena_testkit", "ls", "attacks"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("plugins: ")
    line = next(ln for ln in out.splitlines() if ln.startswith("robarena_testkit/sign"))
    assert "v1" in line and "local-0" in line


def test_validate_passes_a_conforming_plugin(capsys, testkit):
    assert main(["-p", "robarena_testkit", "validate"]) == 0
    assert "all plugins valid" in capsys.readouterr().out


def test_validate_reports_contract_breaches(capsys, testkit):
    assert main(["-p", "robarena_testkit", "-p", "robarena_badkit", "validate"]) == 1
    out = capsys.readouterr().out
    assert "robarena_badkit/not-an-attack: target collections:OrderedDict is not a subclass of bench.api.Attack" in out
    assert "spec declares norms ['L2'] but Escape.norms is ['Linf']" in out


def test_validate_reports_a_plugin_that_fails_to_import(capsys, testkit):
    assert main(["-p", "robarena_testkit", "-p", "no_such_plugin_module", "validate"]) == 1
    assert "failed to import module 'no_such_plugin_module'" in capsys.readouterr().out


def test_mock_run_pushes_every_component_through(capsys, testkit):
    code = main(["-p", "robarena_testkit", "mock-run", "robarena_testkit"])
    out = capsys.readouterr()
    assert code == 1  # the testkit carries a broken defense and an attack that leaves its ball
    assert "this defense always fails" in out.err and "outside the threat model" in out.err
    lines = out.out.splitlines()  # every column: two-line headers (attack, then threat)
    top = next(i for i, line in enumerate(lines) if "sign" in line.split())
    assert "noise" in lines[top].split() and lines[top + 1].count("Linf 0.1") >= 3


def test_mock_run_unknown_plugin(capsys, testkit):
    assert main(["-p", "robarena_testkit", "mock-run", "nope"]) == 2
    assert "no plugin named 'nope'" in capsys.readouterr().err


def test_run_exit_codes_and_show(tmp_path, capsys, testkit):
    suite = tmp_path / "s.toml"
    suite.write_text('name = "tiny"\n[[datasets]]\nid = "core/digits"\nparams = {n_train = 100, n_test = 20}\n'
                     '[[models]]\nid = "tiny-linear"\n[[defenses]]\nid = "erm"\n[[attacks]]\nid = "sign"\n'
                     'eps = "8/255"\n[train]\nepochs = 1\n[eval]\nn = 20\n')
    assert main(["-p", "robarena_testkit", "run", str(suite), "--workdir", str(tmp_path / "w"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Linf 8/255" in out and "robust[*] (1)" in out and "1 row(s); 3 cell(s) computed" in out
    assert main(["-p", "robarena_testkit", "show", "tiny", "erm", "--workdir", str(tmp_path / "w")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["provenance"]["specs"]["robarena_testkit/sign"] == "1" and shown["provenance"]["n"] == 20
    broken = suite.read_text().replace('id = "erm"', 'id = "broken"')
    suite.write_text(broken)
    assert main(["-p", "robarena_testkit", "run", str(suite), "--workdir", str(tmp_path / "w"), "--no-progress"]) == 1
    assert "failed cell(s)" in capsys.readouterr().err


def test_python_api_mirrors_the_cli(tmp_path, testkit):
    res = bench.run(tiny_suite(), workdir=tmp_path, plugins=testkit)
    frame = res.to_pandas()
    assert list(frame["row_id"]) == ["digits/tiny-linear/erm/seed0"]
