"""Setup errors are refused while planning: one message, exit 2, no run recorded, the previous good
run stays the latest (issue #17, items 6, 7 and part of 9)."""
import sqlite3
import textwrap

import pytest
import torch
from safetensors.torch import save_file

from bench.cli.main import main
from bench.runner.results import load_rows


def tiny_linear_checkpoint(path):
    from bench.testing.tiny import TinyLinear

    torch.manual_seed(0)
    save_file(TinyLinear((1, 8, 8), 10).state_dict(), str(path))
    return path


def run_ids(workdir):
    db = workdir / "results.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY rowid")]


def eval_cli(workdir, *, arch="tiny-linear", checkpoint, dataset="core/digits", extra=()):
    return main(["-p", "robarena_testkit", "eval", "--arch", arch, "--checkpoint", str(checkpoint),
                 "--dataset", dataset, "--attack", "sign:Linf:0.1", "--attack", "sign:Linf:0.2", "--probe",
                 "confidence", "--n", "20", "--workdir", str(workdir), "--no-progress", *extra])


def refused(capsys, code, *needles):
    """Exit 2, one ERROR line naming the problem, no traceback, nothing printed to stdout."""
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("ERROR: ") and err.count("ERROR: ") == 1 and "Traceback" not in err
    for needle in needles:
        assert needle in err and err.count(needle) == 1, (needle, err)
    assert out == ""
    return err


@pytest.fixture
def good_run(tmp_path, testkit, capsys):
    """A workdir holding one good eval run of 'eval'; returns (workdir, its rows as JSON)."""
    wd = tmp_path / "wd"
    assert eval_cli(wd, checkpoint=tiny_linear_checkpoint(tmp_path / "good.safetensors")) == 0
    capsys.readouterr()
    return wd, [r.model_dump(mode="json") for r in load_rows(wd, "eval")]


@pytest.mark.parametrize("case", ["missing", "directory", "unknown-arch", "unimportable", "import-fails",
                                  "garbage", "mismatch", "timm-typo"])
def test_bad_eval_setup_is_one_error_and_keeps_the_good_run_latest(case, good_run, tmp_path, capsys, monkeypatch):
    wd, rows = good_run
    runs = run_ids(wd)
    ckpt, arch = tiny_linear_checkpoint(tmp_path / "c.safetensors"), "tiny-linear"
    needle = str(ckpt)
    if case == "missing":
        ckpt, needle = tmp_path / "typo.safetensors", "does not exist"
    elif case == "directory":
        ckpt, needle = tmp_path, "is a directory"
    elif case == "unknown-arch":
        arch, needle = "tiny-linaer", "tiny-linaer"
    elif case == "unimportable":
        arch, needle = "no_such_pkg_xyz.nets:make", "no module named 'no_such_pkg_xyz'"
    elif case == "import-fails":
        monkeypatch.syspath_prepend(str(tmp_path))
        (tmp_path / "brokennets.py").write_text(textwrap.dedent("""
            import bench
            raise RuntimeError("missing dependency")

            @bench.model_factory
            def make():
                pass
        """))
        arch, needle = "brokennets:make", "importing 'brokennets' raised RuntimeError: missing dependency"
    elif case == "garbage":
        ckpt = tmp_path / "garbage.pt"
        ckpt.write_bytes(b"not a torch file")
        needle = "not a weights-only checkpoint"
    elif case == "mismatch":
        save_file({"foo": torch.zeros(3)}, str(ckpt))
        needle = "does not match the architecture"
    elif case == "timm-typo":
        arch, needle = "timm/resnet10tt", "timm has no architecture 'resnet10tt'"
    refused(capsys, eval_cli(wd, arch=arch, checkpoint=ckpt), needle)
    assert run_ids(wd) == runs  # no run recorded
    assert [r.model_dump(mode="json") for r in load_rows(wd, "eval")] == rows  # show / leaderboard build see it


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def suite_toml(tmp_path, dataset_params="", train="", seeds="[0]"):
    return write(tmp_path / "s.toml", f"""
        name = "s"
        seeds = {seeds}
        [[datasets]]
        id = "core/mnist"
        params = {{ {dataset_params} }}
        [[models]]
        id = "tiny-linear"
        [[defenses]]
        id = "erm"
        [[attacks]]
        id = "sign"
        eps = [0.1, 0.2]
        [train]
        epochs = 1
        {train}
    """)


@pytest.mark.parametrize("params, needle", [
    ("root = 'FILE'", "the data root is a file"),
    ("root = 'MISSING'", "MNIST not found"),
    ("root = 'EMPTY', verify = false", "MNIST not found"),
    ("root = 'EMPTY', download = false, test_ids = '/etc/hostname'", "is not a valid id list"),
])
def test_bad_data_root_is_refused_while_planning(params, needle, tmp_path, testkit, capsys):
    (tmp_path / "FILE").write_text("x")
    (tmp_path / "EMPTY").mkdir()
    params = params.replace("'FILE'", repr(str(tmp_path / "FILE"))).replace("'MISSING'", repr(str(tmp_path / "no")))
    params = params.replace("'EMPTY'", repr(str(tmp_path / "EMPTY")))
    if "test_ids" in params:
        write(tmp_path / "ids.txt", "root:x:0:0:SECRET\n")
        params = params.replace("/etc/hostname", str(tmp_path / "ids.txt"))
    suite = suite_toml(tmp_path, dataset_params=params)
    code = main(["-p", "robarena_testkit", "run", str(suite), "--workdir", str(tmp_path / "wd"), "--no-progress"])
    err = refused(capsys, code, needle)
    assert "dataset 'mnist'" in err and "SECRET" not in err
    assert run_ids(tmp_path / "wd") == []


def test_several_problems_are_listed_in_one_message(tmp_path, testkit, capsys):
    suite = write(tmp_path / "two.toml", f"""
        name = "two"
        [[attacks]]
        id = "sign"
        eps = 0.1
        [[pretrained]]
        label = "a"
        arch = "tiny-linear"
        checkpoint = "{tiny_linear_checkpoint(tmp_path / 'a.safetensors')}"
        dataset = "core/mnist"
        dataset_params = {{ root = "{tmp_path / 'nowhere'}" }}
        [[pretrained]]
        label = "b"
        arch = "no_such_pkg_xyz:make"
        checkpoint = "{tmp_path / 'a.safetensors'}"
        dataset = "core/digits"
    """)
    code = main(["-p", "robarena_testkit", "run", str(suite), "--workdir", str(tmp_path / "wd"), "--no-progress"])
    err = refused(capsys, code, "3 problems, nothing was run", "pretrained model 'b'", "dataset 'mnist'")
    assert "no module named 'no_such_pkg_xyz'" in err
    assert "pretrained model 'a'" in err and "does not match the architecture" in err  # 8x8 weights, 28x28 MNIST


@pytest.mark.parametrize("train, seeds, needle", [
    ("lr = inf", "[0]", "finite number"),
    ("lr = nan", "[0]", "finite number"),
    ("lr = -inf", "[0]", "finite number"),
    ("lr = 0.0", "[0]", "greater than 0"),
    ("weight_decay = inf", "[0]", "finite number"),
    ("", "[0, 1, 0]", "duplicate seed 0"),
])
def test_suite_values_refused_at_validation(train, seeds, needle, tmp_path, testkit, capsys):
    suite = suite_toml(tmp_path, dataset_params="root = 'x'", train=train, seeds=seeds)
    code = main(["-p", "robarena_testkit", "run", str(suite), "--workdir", str(tmp_path / "wd"), "--no-progress"])
    refused(capsys, code, needle)
    assert not (tmp_path / "wd").exists()


@pytest.mark.parametrize("target", [".", "DIR", "DIR.toml"])
def test_a_directory_is_not_a_suite(target, tmp_path, testkit, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "DIR").mkdir()
    (tmp_path / "DIR.toml").mkdir()
    code = main(["-p", "robarena_testkit", "run", target, "--workdir", str(tmp_path / "wd"), "--no-progress"])
    refused(capsys, code, f"{target!r} is a directory, expected a suite name or a .toml file")
