"""``robarena validate PLUGIN`` and the warning for bare names that several plugins register (issue #18, item 3)."""
import sys

import pytest

from bench.cli.main import main
from bench.errors import UnknownComponentError
from bench.registry import get_registry

SHADOWKIT = '''
"""A third-party plugin whose attacks reuse bare names of other plugins."""
from bench.api import Attack
from bench.hookspecs import hookimpl
from bench.specs import AttackSpec


class Corner(Attack):
    norms = ("Linf",)

    def run(self, model, x, y, threat, generator, target=None):
        return threat.project(x + threat.eps * (x < 0.5).float() - threat.eps * (x >= 0.5).float(), x)


@hookimpl
def robarena_attacks():
    return [AttackSpec(name=name, version="1", target="robarena_shadowkit:Corner", norms=["Linf"],
                       needs_gradients=False) for name in NAMES]
'''


@pytest.fixture
def shadowkit(tmp_path, monkeypatch, testkit):
    """Writes ``robarena_shadowkit`` registering attacks ``names``; returns the ``-p`` options for it."""
    def make(*names):
        (tmp_path / "robarena_shadowkit.py").write_text(f"NAMES = {list(names)!r}\n" + SHADOWKIT)
        monkeypatch.syspath_prepend(str(tmp_path))
        return ["-p", "robarena_shadowkit"]

    yield make
    sys.modules.pop("robarena_shadowkit", None)


def listed(out: str) -> list[str]:
    """The qualified ids validate checked (its 'ok' / 'FAILED' lines)."""
    return [line.split()[2] for line in out.splitlines() if line.startswith(("  ok ", "  FAILED "))]


def test_validate_plugin_checks_only_that_plugins_components(capsys, testkit):
    assert main(["-p", testkit[0], "validate"]) == 0
    everything = listed(capsys.readouterr().out)
    assert any(i.startswith("core/") for i in everything) and any(i.startswith("robarena_testkit/") for i in everything)
    assert main(["-p", testkit[0], "validate", "robarena_testkit"]) == 0
    out = capsys.readouterr().out
    only = listed(out)
    assert only == [i for i in everything if i.startswith("robarena_testkit/")] and "robarena_testkit valid" in out
    assert main(["-p", testkit[0], "validate", "robarena"]) == 0  # a distribution name works too: the core's
    assert {i.split("/")[0] for i in listed(capsys.readouterr().out)} == {"core"}


def test_validate_an_unknown_plugin_is_a_usage_error(capsys, testkit):
    assert main(["-p", testkit[0], "validate", "nope"]) == 2
    err = capsys.readouterr().err
    assert "ERROR: no plugin named 'nope' is loaded; loaded plugins: core (robarena)" in err
    assert "robarena_testkit (local)" in err


def test_validate_names_a_plugin_that_failed_to_load(capsys, testkit):
    assert main(["-p", testkit[0], "-p", "no_such_plugin_module", "validate", "no_such_plugin_module"]) == 1
    out = capsys.readouterr().out
    assert "failed to import module 'no_such_plugin_module'" in out and listed(out) == []


def test_a_bare_name_registered_twice_is_a_warning_that_names_both_and_the_fix(capsys, testkit, shadowkit):
    plugins = [*shadowkit("sign", "corner"), "-p", testkit[0]]
    assert main([*plugins, "validate", "robarena_shadowkit"]) == 0  # a warning, not a failure
    out = capsys.readouterr().out
    assert listed(out) == ["robarena_shadowkit/corner", "robarena_shadowkit/sign"]
    warnings = [line for line in out.splitlines() if line.startswith("WARNING:")]
    assert warnings == [
        "WARNING: attack name 'sign' is registered by robarena_shadowkit/sign (local-0) and robarena_testkit/sign "
        "(local-0): a bare 'sign' now resolves to none of them: it is ambiguous and fails wherever a suite, a "
        "command or an example names it; suites and commands should use the qualified id (e.g. "
        "'robarena_shadowkit/sign')"]
    # what the warning says is what the registry does
    registry = get_registry(tuple(p for p in plugins if p != "-p"))
    with pytest.raises(UnknownComponentError, match="ambiguous"):
        registry.get("attack", "sign")
    assert registry.get("attack", "corner").qualified_id == "robarena_shadowkit/corner"
    (shadow,) = registry.shadows()
    assert shadow.resolved is None and shadow.plugins == ["robarena_shadowkit", "robarena_testkit"]


def test_the_warning_shows_for_the_plugins_involved_only(capsys, testkit, shadowkit):
    plugins = [*shadowkit("sign"), "-p", testkit[0]]
    assert main([*plugins, "validate", "robarena_testkit"]) == 0
    assert "WARNING: attack name 'sign'" in capsys.readouterr().out
    assert main([*plugins, "validate", "core"]) == 0
    assert "WARNING" not in capsys.readouterr().out


def test_a_third_party_pgd_next_to_classics(capsys, testkit, shadowkit):
    """The issue's case: every suite and example that says 'pgd' would stop resolving."""
    plugins = [*shadowkit("pgd"), "-p", "classics"]
    assert main([*plugins, "validate", "robarena_shadowkit"]) == 0
    out = capsys.readouterr().out
    assert ("WARNING: attack name 'pgd' is registered by classics/pgd (robarena-classics-" in out
            and "and robarena_shadowkit/pgd (local-0): a bare 'pgd' now resolves to none of them" in out
            and "(e.g. 'classics/pgd')" in out)
