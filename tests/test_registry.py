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


# ---------------------------------------------------------------- kinds, typed entries, resolvers

def test_kinds_are_an_enum_equal_to_their_names_with_one_hook_and_spec_type_each():
    from bench.hookspecs import REGISTRATION_HOOKS
    from bench.specs import SPEC_TYPES, Kind

    assert [k.value for k in Kind] == ["dataset", "model", "defense", "attack", "probe", "task", "corruption", "suite",
                                       "claim"]
    assert set(REGISTRATION_HOOKS) == set(Kind) == set(SPEC_TYPES)
    for kind in Kind:
        assert kind == kind.value and hash(kind) == hash(kind.value) and f"{kind}" == str(kind) == kind.value
        assert Kind.parse(kind.value) is kind and Kind.parse(kind) is kind
        assert SPEC_TYPES[kind].model_fields["kind"].default == kind.value


def test_unknown_kind_is_a_usage_error_listing_the_kinds(fake_eps):
    from bench.errors import UsageError

    reg = Registry(plugmod.get_plugin_manager())
    with pytest.raises(UsageError, match="unknown component kind 'attacks'; use one of dataset, model, .*claim"):
        reg.get("attacks", "zap")
    with pytest.raises(UsageError, match="unknown component kind"):
        reg.entries("plugin")


def test_entries_are_typed_and_kinds_accept_enum_or_name(fake_eps):
    from bench.specs import Kind

    reg = Registry(plugmod.get_plugin_manager())
    entry = reg.get(Kind.ATTACK, "alpha/zap")
    assert entry is reg.get("attack", "alpha/zap")
    assert isinstance(entry.spec, AttackSpec) and entry.spec.norms == ["Linf"]
    assert entry.kind is Kind.ATTACK and entry.plugin.name == "alpha"
    assert reg.entries(Kind.MODEL) == reg.entries("model") == [reg.get("model", "net")]
    assert [e.kind for e in reg] == sorted((e.kind for e in reg), key=list(Kind).index)  # kinds in enum order


@pytest.fixture
def no_extra_resolvers(monkeypatch):
    from bench import registry

    monkeypatch.setattr(registry, "_extra_resolvers", [])


def test_resolvers_make_entries_for_ids_no_plugin_registers(fake_eps, no_extra_resolvers):
    from bench.registry import Entry, Resolver, register_resolver
    from bench.specs import Kind

    made = []

    def make(ident):
        made.append(ident)
        if ident == "alpha/missing":
            raise UnknownComponentError(f"no such thing {ident!r}")
        spec = AttackSpec(name=ident.split("/")[1], version="9", target="x.y:Z", norms=["L2"])
        return Entry(ident, spec, plugmod.PluginInfo("gen", "gen", "gen-dist", "9"))

    register_resolver(Resolver(Kind.ATTACK, "alpha/", make))
    reg = Registry(plugmod.get_plugin_manager())
    assert reg.get("attack", "alpha/zap").version == "2"  # a registered id wins
    assert reg.get("attack", "alpha/zip").version == "9" and made == ["alpha/zip"]
    assert not reg.has("attack", "alpha/missing")
    assert not reg.has("model", "alpha/zip")  # another kind: not this resolver's
    assert reg.ids("attack") == ["alpha/zap"]  # resolved ids are not listed


def test_timm_ids_resolve_through_the_builtin_resolver(fake_eps):
    import timm  # a dependency of robarena

    from bench.specs import Kind

    reg = Registry(plugmod.get_plugin_manager())
    entry = reg.get("model", "timm/resnet10t")
    assert entry.qualified_id == "timm/resnet10t" and entry.kind is Kind.MODEL
    assert isinstance(entry.spec, ModelSpec) and entry.spec.name == "resnet10t"
    assert entry.version == entry.plugin.version == timm.__version__ and entry.plugin.name == "timm"
    assert entry.load().timm_name == "resnet10t"
    with pytest.raises(UnknownComponentError, match="timm has no architecture 'resnet10tt'.*timm/resnet10t"):
        reg.get("model", "timm/resnet10tt")
    assert not reg.has("attack", "timm/resnet10t")


def test_registry_does_not_import_the_timm_module():
    """No import cycle: bench.timm_models imports the registry, never the other way round."""
    import ast
    import subprocess
    from pathlib import Path

    import bench.registry

    tree = ast.parse(Path(bench.registry.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any("timm" in name for name in imported)
    code = "import sys, bench.registry; sys.exit('bench.timm_models' in sys.modules or 'timm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
