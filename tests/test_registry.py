"""Plugin manager and registry: discovery switches, collisions, did-you-mean, lazy targets."""
import sys
import types
from importlib import metadata

import pytest

from bench import plugins as plugmod
from bench.errors import PluginLoadError, PluginValidationError, RegistryCollisionError, UnknownComponentError
from bench.hookspecs import hookimpl
from bench.registry import Registry
from bench.specs import AttackSpec, ModelSpec


def make_module(name, **hooks):
    mod = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(mod, hook, hookimpl(fn))
    sys.modules[name] = mod
    return mod


@pytest.fixture
def fake_eps(monkeypatch):
    """Pretend two plugins are installed as entry points (no real distribution)."""
    make_module("fake_alpha", robarena_attacks=lambda: [AttackSpec(name="zap", version="2", target="x.y:Z", norms=["Linf"])])
    make_module("fake_beta", robarena_models=lambda: [ModelSpec(name="net", version="1", target="x.y:N")])
    eps = [metadata.EntryPoint("alpha", "fake_alpha", plugmod.ENTRY_POINT_GROUP),
           metadata.EntryPoint("beta", "fake_beta", plugmod.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(plugmod, "_entry_points", lambda: eps)
    monkeypatch.delenv(plugmod.AUTOLOAD_ENV, raising=False)
    yield
    for name in ("fake_alpha", "fake_beta"):
        sys.modules.pop(name, None)


def test_entry_points_are_autoloaded_and_qualified(fake_eps):
    reg = Registry(plugmod.get_plugin_manager())
    assert reg.ids("attack") == ["alpha/zap"]
    assert reg.get("attack", "zap").qualified_id == "alpha/zap"
    assert reg.get("model", "beta/net").version == "1"
    assert "core/digits" in reg.ids("dataset")


def test_block_and_disable_autoload(fake_eps, monkeypatch):
    reg = Registry(plugmod.get_plugin_manager(["no:alpha"]))
    assert reg.ids("attack") == [] and reg.ids("model") == ["beta/net"]
    monkeypatch.setenv(plugmod.AUTOLOAD_ENV, "1")
    reg = Registry(plugmod.get_plugin_manager())
    assert reg.ids("attack") == [] and reg.ids("model") == []
    reg = Registry(plugmod.get_plugin_manager(["alpha"]))
    assert reg.ids("attack") == ["alpha/zap"] and reg.ids("model") == []


def test_unknown_id_suggests_close_matches(fake_eps):
    reg = Registry(plugmod.get_plugin_manager())
    with pytest.raises(UnknownComponentError) as info:
        reg.get("attack", "zapp")
    assert "Did you mean" in str(info.value) and "'zap'" in str(info.value) and "alpha/zap" in str(info.value)


def test_duplicate_spec_names_collide_naming_both(monkeypatch):
    make_module("fake_dup", robarena_attacks=lambda: [
        AttackSpec(name="zap", version="1", target="a.b:C", norms=["Linf"]),
        AttackSpec(name="zap", version="2", target="a.b:D", norms=["Linf"])])
    monkeypatch.setattr(plugmod, "_entry_points",
                        lambda: [metadata.EntryPoint("dup", "fake_dup", plugmod.ENTRY_POINT_GROUP)])
    with pytest.raises(RegistryCollisionError, match="dup/zap.*registered twice.*a.b:C.*a.b:D"):
        Registry(plugmod.get_plugin_manager())


def test_same_plugin_name_from_two_modules_is_an_error_naming_both(monkeypatch):
    make_module("fake_one")
    make_module("fake_two")
    monkeypatch.setattr(plugmod, "_entry_points", lambda: [
        metadata.EntryPoint("same", "fake_one", plugmod.ENTRY_POINT_GROUP)])
    pm = plugmod.get_plugin_manager()
    with pytest.raises(PluginLoadError, match="fake_one.*fake_two"):
        pm.register_module("same", "fake_two", "dist-two", "1.0")


def test_broken_plugin_import_names_plugin_and_fix(monkeypatch):
    monkeypatch.setattr(plugmod, "_entry_points", lambda: [
        metadata.EntryPoint("ghost", "no_such_module_xyz", plugmod.ENTRY_POINT_GROUP)])
    monkeypatch.delenv(plugmod.AUTOLOAD_ENV, raising=False)
    with pytest.raises(PluginLoadError, match="plugin 'ghost'.*no_such_module_xyz.*-p no:ghost"):
        plugmod.get_plugin_manager()
    errors = []
    plugmod.get_plugin_manager(errors=errors)
    assert len(errors) == 1


def test_misspelled_hook_is_reported():
    make_module("fake_typo", robarena_attaks=lambda: [])
    pm = plugmod.get_plugin_manager(autoload=False)
    pm.register_module("typo", "fake_typo", "typo-dist", "0.1")
    with pytest.raises(PluginValidationError, match="robarena_attaks.*Known hooks"):
        pm.check_hooks()


def test_invalid_spec_is_rejected_with_plugin_named():
    make_module("fake_badspec", robarena_attacks=lambda: [{"name": "Bad Name", "version": "1", "target": "a:b",
                                                           "norms": ["Linf"]}])
    pm = plugmod.get_plugin_manager(autoload=False)
    pm.register_module("badspec", "fake_badspec", "bad-dist", "0.1")
    with pytest.raises(PluginValidationError, match="badspec.*bad-dist.*Bad Name"):
        Registry(pm)


def test_targets_are_lazy():
    make_module("fake_lazy", robarena_attacks=lambda: [AttackSpec(name="z", version="1", target="never_imported_mod:Z",
                                                                  norms=["Linf"])])
    pm = plugmod.get_plugin_manager(autoload=False)
    pm.register_module("lazy", "fake_lazy", "lazy-dist", "0.1")
    reg = Registry(pm)
    assert "never_imported_mod" not in sys.modules
    with pytest.raises(PluginValidationError, match="cannot import 'never_imported_mod:Z'"):
        reg.get("attack", "lazy/z").load()
