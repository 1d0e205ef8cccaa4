"""A suite may call a ``module:factory`` only when its author marked it, declared it as an entry
point, or the user trusts its module; never robarena's own code (issue #17, item 2)."""
import os
import sys
import textwrap

import pytest
import torch
from safetensors.torch import save_file

from bench.cli.main import main
from bench.errors import UsageError
from bench.runner.models import TRUSTED_MODULES_ENV, check_factory, resolve_factory, trusting


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    """A folder on sys.path for the user's modules; they are unloaded afterwards."""
    folder = tmp_path / "code"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        sys.modules.pop(name, None)


def write_module(folder, name, source):
    path = folder / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def digits_checkpoint(tmp_path, width=16):
    import byo_factory

    path = tmp_path / "net.safetensors"
    save_file(byo_factory.make(width).state_dict(), str(path))
    return path


def eval_args(tmp_path, arch, ckpt, *extra):
    return ["-p", "robarena_testkit", "eval", "--arch", arch, "--checkpoint", str(ckpt), "--dataset", "core/digits",
            "--attack", "sign:Linf:0.1", "--n", "20", "--workdir", str(tmp_path / "wd"), "--no-progress", *extra]


# --------------------------------------------------------------------------- robarena's own code
def test_a_suite_cannot_overwrite_files_through_bench_scaffold(tmp_path, testkit, capsys):
    target = tmp_path / "victim"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    ckpt = digits_checkpoint(tmp_path)
    suite = tmp_path / "evil.toml"
    suite.write_text(textwrap.dedent(f"""
        name = "evil"
        [[attacks]]
        id = "sign"
        eps = 0.1
        [[pretrained]]
        label = "x"
        arch = "bench.scaffold:create"
        arch_params = {{ name = "pwn", directory = "{target}", force = true }}
        checkpoint = "{ckpt}"
        dataset = "core/digits"
    """))
    code = main(["-p", "robarena_testkit", "run", str(suite), "--workdir", str(tmp_path / "wd"), "--no-progress",
                 "--trust-module", "bench"])
    err = capsys.readouterr().err
    assert code == 2
    assert "robarena's own modules are never called as factories" in err and "Traceback" not in err
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert (target / "keep.txt").read_text() == "precious"
    assert not (tmp_path / "wd" / "results.sqlite").exists()


@pytest.mark.parametrize("arch", ["bench.cli.main:main", "bench.scaffold:create", "robarena_testkit:make",
                                  "robarena_classics.models:anything"])
def test_own_modules_are_refused_whatever_is_trusted(arch, monkeypatch):
    monkeypatch.setenv(TRUSTED_MODULES_ENV, "bench,robarena_testkit,robarena_classics")
    with pytest.raises(UsageError, match="robarena's own modules are never called as factories"):
        check_factory(arch)


def test_cli_main_through_eval_is_refused_with_exit_2(tmp_path, testkit, capsys):
    ckpt = digits_checkpoint(tmp_path)
    code = main(eval_args(tmp_path, "bench.cli.main:main", ckpt))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ERROR: ") and "Traceback" not in err
    assert "bench.cli.main:main" in err and not (tmp_path / "wd" / "results.sqlite").exists()


def test_a_trusted_module_re_exporting_robarena_code_is_refused(user_code):
    write_module(user_code, "reexport", "from bench.scaffold import create\n")
    with trusting(["reexport"]):
        assert check_factory("reexport:create") == "trusted"
        with pytest.raises(UsageError, match="robarena's own bench.scaffold.create"):
            resolve_factory("reexport:create")


# --------------------------------------------------------------------------- the user's own code
def test_unmarked_user_function_is_refused_before_its_module_is_imported(user_code, tmp_path):
    marker = tmp_path / "imported"
    write_module(user_code, "scripty", f"""
        import pathlib
        pathlib.Path({str(marker)!r}).touch()  # e.g. a script that does work when imported

        def make():
            return None
    """)
    with pytest.raises(UsageError, match=r"does not define 'make' under @bench.model_factory"):
        check_factory("scripty:make")
    with pytest.raises(UsageError, match="--trust-module scripty"):
        resolve_factory("scripty:make")
    assert not marker.exists()
    assert "scripty" not in sys.modules


def test_marked_functions_and_classes_are_allowed_inherited_markers_are_not():
    import byo_factory

    assert check_factory("byo_factory:make") == "marked"
    assert resolve_factory("byo_factory:make") is byo_factory.make
    assert resolve_factory("byo_factory:Net") is byo_factory.Net  # @bench.model_factory on a class
    with pytest.raises(UsageError, match="does not define 'Unmarked'"):
        resolve_factory("byo_factory:Unmarked")  # a subclass of a marked class
    with pytest.raises(UsageError, match="does not define 'unmarked'"):
        resolve_factory("byo_factory:unmarked")
    assert byo_factory.Unmarked.__robarena_model_factory__  # it does inherit the attribute: not enough


def test_a_marked_name_rebound_later_in_the_module_is_refused(user_code):
    write_module(user_code, "rebind", """
        from bench import model_factory

        @model_factory
        def make():
            return None

        def other():
            return None

        make = other
    """)
    assert check_factory("rebind:make") == "marked"  # the source defines it under the decorator...
    with pytest.raises(UsageError, match="is not marked as a model factory"):
        resolve_factory("rebind:make")  # ...but what the module holds is not marked


def test_marked_factory_in_a_package_submodule(user_code):
    write_module(user_code / "mypkg", "__init__", "")
    write_module(user_code / "mypkg", "nets", """
        import bench
        from torch import nn

        @bench.model_factory
        def small(width: int = 4):
            return nn.Sequential(nn.Flatten(), nn.Linear(64, width))
    """)
    assert check_factory("mypkg.nets:small") == "marked"
    assert isinstance(resolve_factory("mypkg.nets:small")(width=3), torch.nn.Module)
    with pytest.raises(UsageError, match="no module named 'mypkg.missing'"):
        check_factory("mypkg.missing:small")


def test_trust_module_lets_an_unmarked_factory_run_end_to_end(tmp_path, testkit, capsys):
    ckpt = digits_checkpoint(tmp_path)
    code = main(eval_args(tmp_path, "byo_factory:unmarked", ckpt))
    assert code == 2 and "does not define 'unmarked'" in capsys.readouterr().err
    assert not (tmp_path / "wd" / "results.sqlite").exists()
    code = main(eval_args(tmp_path, "byo_factory:unmarked", ckpt, "--trust-module", "byo_factory"))
    assert code == 0, capsys.readouterr().err
    assert TRUSTED_MODULES_ENV not in os.environ  # trust lasts for the run only


def test_bad_trust_module_names_and_malformed_archs(monkeypatch):
    with pytest.raises(UsageError, match="is not a module name"):
        with trusting(["os; rm -rf /"]):
            pass
    for arch in ("byo_factory:", ":make", "byo factory:make", "byo_factory:make()"):
        with pytest.raises(UsageError, match="must look like package.module:factory"):
            check_factory(arch)


# --------------------------------------------------------------------------- installed packages
def test_entry_point_declares_a_factory_of_an_installed_package(user_code, monkeypatch):
    write_module(user_code, "vendornets", """
        def make():  # not decorated: the entry point is the author's declaration
            return None
    """)
    dist = user_code / "vendornets-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vendornets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[robarena.model_factories]\nmake = vendornets:make\nbad = os:system\n")
    assert check_factory("vendornets:make") == "declared"
    assert resolve_factory("vendornets:make").__name__ == "make"
    with pytest.raises(UsageError, match="standard library module 'os'"):
        check_factory("os:system")  # a declaration cannot open the standard library
