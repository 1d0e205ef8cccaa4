"""Fuzz table of bad inputs (issue #17, "done means"): every bad input to the CLI, a suite file,
``eval``, the leaderboard, a dataset loader or a damaged store is one clear error.

Each case is ``Case(id, setup, code, pattern)``: ``setup(ctx)`` writes what the case needs (copying the
one good work directory or leaderboard of this module when it damages or uses them) and returns the
``robarena`` argv; the command must exit with ``code`` (2 for bad input; otherwise the documented code:
1 for ``store check`` finding problems and for a run whose cells failed on a corrupted data file, which
is found only when the run reads it; 0 for ``leaderboard ls`` with nothing to list), print a message
matching ``pattern`` (the problem named), show no traceback, and lose nothing stored: the files the case
used (damage included) are byte for byte as they were, and the good run is still the latest of its
suite with the same rows.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import re
import shutil
import sqlite3
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest

from bench.cli.main import main

TESTS = Path(__file__).parent
TESTKIT = TESTS / "testkit"
ROW = "digits/tiny-linear/erm/seed0"
PLUGIN = ["-p", "robarena_testkit"]

GOOD_SUITE = """\
name = "tiny"
seeds = [0]
[[datasets]]
id = "core/digits"
params = {n_train = 300, n_test = 60}
[[models]]
id = "tiny-linear"
[[defenses]]
id = "erm"
[[attacks]]
id = "sign"
eps = 0.1
params = {steps = 3}
[[probes]]
id = "confidence"
[train]
epochs = 3
batch_size = 32
lr = 0.1
[eval]
n = 60
batch_size = 32
"""


# --------------------------------------------------------------------------- helpers
def digest_tree(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    if path.is_file():
        return {"": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def sql(path: Path, statement: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(str(path))
    try:
        rows = conn.execute(statement, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def stored_rows(workdir: Path, suite: str = "tiny") -> list[dict]:
    from bench.runner.results import load_rows

    return [r.model_dump(mode="json", exclude={"provenance": {"date"}}) for r in load_rows(workdir, suite)]


class Planted:
    """Unpickling this runs ``touch <marker>``: a loader that unpickles it executes code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@dataclass
class Ctx:
    """What one case may use: a scratch folder, a copy of the good work directory and of the leaderboard."""

    tmp: Path
    good_wd: Path
    good_lb: Path
    damaged: bool = False  # the case damaged the work directory / leaderboard on purpose
    markers: list[Path] = field(default_factory=list)
    _wd: Optional[Path] = None
    _lb: Optional[Path] = None

    @property
    def wd(self) -> Path:
        if self._wd is None:
            self._wd = Path(shutil.copytree(self.good_wd, self.tmp / "wd"))
        return self._wd

    @property
    def lb(self) -> Path:
        if self._lb is None:
            self._lb = Path(shutil.copytree(self.good_lb, self.tmp / "lb"))
        return self._lb

    def write(self, name: str, content) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
        return path

    def marker(self) -> Path:
        path = self.tmp / "marker-code-ran"
        self.markers.append(path)
        return path

    def run(self, suite_text: str, *extra: str) -> list[str]:
        """``run`` a suite file with this text against the good work directory."""
        return ["run", str(self.write("suite.toml", suite_text)), "--workdir", str(self.wd), "--no-progress", *extra]

    def checkpoint(self, name: str = "good.safetensors") -> Path:
        import torch
        from safetensors.torch import save_file

        from bench.testing.tiny import TinyLinear

        torch.manual_seed(0)
        path = self.tmp / name
        save_file(TinyLinear((1, 8, 8), 10).state_dict(), str(path))
        return path

    def eval(self, *, arch: str = "tiny-linear", checkpoint: Optional[Path] = None, dataset: str = "core/digits",
             attacks=("sign:Linf:0.1",), extra=()) -> list[str]:
        """``eval`` into the good work directory (a failed eval must record nothing there)."""
        ckpt = checkpoint if checkpoint is not None else self.checkpoint()
        argv = ["eval", "--arch", arch, "--checkpoint", str(ckpt), "--dataset", dataset, "--n", "20",
                "--workdir", str(self.wd), "--no-progress"]
        for attack in attacks:
            argv += ["--attack", attack]
        return argv + list(extra)


def edit(old: str, new: str) -> str:
    assert old in GOOD_SUITE, old
    return GOOD_SUITE.replace(old, new, 1)


DATASET_BLOCK = '[[datasets]]\nid = "core/digits"\nparams = {n_train = 300, n_test = 60}\n'
ATTACK_BLOCK = '[[attacks]]\nid = "sign"\neps = 0.1\nparams = {steps = 3}\n'


def top(line: str, drop: str = "") -> str:
    """The good suite with a top-level ``line`` (and ``drop`` removed)."""
    return edit("seeds = [0]\n", f"seeds = [0]\n{line}\n").replace(drop, "")


def add(text: str) -> str:
    return GOOD_SUITE + textwrap.dedent(text)


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Ctx], list[str]]
    code: int
    pattern: str
    plugins: tuple = tuple(PLUGIN)
    #: what must be unchanged afterwards: "files" (every file of the work directory and leaderboard the case
    #: used), "cells" (the cell records: the command may recreate a dropped table) or "rows" (a run that
    #: recorded its failed cells: the good run's rows and runs)
    keep: str = "files"
    read_only: bool = False  # run in a child process on a read-only copy of the good work directory


CASES: list[Case] = []


def suite_case(id: str, text: str, pattern: str, *extra: str, plugins=tuple(PLUGIN)):
    CASES.append(Case(id, lambda ctx: ctx.run(text, *extra), 2, pattern, plugins))


def fill(arg: str, ctx: Ctx) -> str:
    for key, attr in (("{wd}", "wd"), ("{lb}", "lb"), ("{tmp}", "tmp")):
        if key in arg:
            arg = arg.replace(key, str(getattr(ctx, attr)))
    return arg


def argv_case(id: str, argv: list[str], code: int, pattern: str, plugins=tuple(PLUGIN)):
    CASES.append(Case(id, lambda ctx: [fill(a, ctx) for a in argv], code, pattern, plugins))


# =========================================================================== the table
# --------------------------------------------------------------------------- command line
argv_case("cli-no-command", [], 2, r"required: COMMAND")
argv_case("cli-unknown-command", ["frobnicate"], 2, r"invalid choice: 'frobnicate'")
argv_case("cli-unknown-global-option", ["--frob", "ls"], 2, r"unrecognized arguments: --frob")
argv_case("cli-run-unknown-option", ["run", "tiny", "--fast"], 2, r"unrecognized arguments: --fast")
argv_case("cli-run-without-suite", ["run"], 2, r"required: suite")
argv_case("cli-eval-without-arch", ["eval", "--checkpoint", "c.pt", "--dataset", "core/digits"], 2,
          r"required: --arch")
argv_case("cli-ls-unknown-kind", ["ls", "gadgets"], 2, r"invalid choice: 'gadgets'")
argv_case("cli-leaderboard-without-action", ["leaderboard"], 2, r"the following arguments are required: COMMAND")
argv_case("cli-store-unknown-action", ["store", "fix"], 2, r"invalid choice: 'fix'")
argv_case("cli-show-unknown-format", ["show", "tiny", ROW, "--format", "yaml"], 2, r"invalid choice: 'yaml'")
argv_case("cli-eval-n-not-a-number", ["eval", "--arch", "tiny-linear", "--checkpoint", "c.pt", "--dataset",
                                      "core/digits", "--n", "abc"], 2, r"--n: invalid int value: 'abc'")
argv_case("cli-run-unknown-executor", ["run", "tiny", "--executor", "dask"], 2, r"invalid choice: 'dask'")
argv_case("cli-diff-atol-not-a-number", ["leaderboard", "diff", "tiny", "v1", "v2", "--atol", "tiny"], 2,
          r"--atol: expected a number, got 'tiny'")
argv_case("cli-verify-sample-not-a-number", ["leaderboard", "verify", "tiny", "v1", "--sample", "some"], 2,
          r"--sample: invalid int value: 'some'")
argv_case("cli-unknown-plugin", ["-p", "no_such_plugin_xyz", "ls"], 2,
          r"plugin 'no_such_plugin_xyz' .*failed to import module 'no_such_plugin_xyz'")
argv_case("cli-unknown-suite-name", ["run", "no-such-suite", "--workdir", "{wd}"], 2, r"unknown suite 'no-such-suite'")
argv_case("cli-mock-run-unknown-plugin", ["mock-run", "no-such-plugin"], 2,
          r"no plugin named 'no-such-plugin' is loaded")
argv_case("cli-plugin-new-bad-name", ["plugin", "new", "Bad Name!", "--dir", "{tmp}/p"], 2,
          r"plugin name 'Bad Name!' is not valid")
CASES.append(Case("cli-run-bad-device", lambda ctx: ctx.run(GOOD_SUITE, "--device", "tpu9"), 2,
                  r"unknown device 'tpu9'; use auto, cpu, cuda or cuda:N"))
CASES.append(Case("cli-plugin-new-into-a-non-empty-folder", lambda ctx: (
    ctx.write("mine/keep.txt", "precious\n"), ["plugin", "new", "mine", "--dir", str(ctx.tmp / "mine")])[1], 2,
    r"mine exists and is not empty; .*--force"))

# --------------------------------------------------------------------------- suite files
CASES.append(Case("suite-missing-file", lambda ctx: ["run", str(ctx.tmp / "nope.toml"), "--workdir", str(ctx.wd)], 2,
                  r"suite file '.*nope\.toml' does not exist"))
CASES.append(Case("suite-a-directory", lambda ctx: ["run", str(ctx.tmp), "--workdir", str(ctx.wd)], 2,
                  r"is a directory, expected a suite name or a \.toml file"))
CASES.append(Case("suite-a-directory-named-toml", lambda ctx: (
    (ctx.tmp / "d.toml").mkdir(), ["run", str(ctx.tmp / "d.toml"), "--workdir", str(ctx.wd)])[1], 2,
    r"is a directory"))
CASES.append(Case("suite-binary-file", lambda ctx: [
    "run", str(ctx.write("bin.toml", bytes(range(128, 256)))), "--workdir", str(ctx.wd)], 2,
        r"suite file '.*bin\.toml' is not UTF-8 text \(byte 0x80 at offset 0\)"))
suite_case("suite-syntax-error", GOOD_SUITE.replace('name = "tiny"', 'name = "tiny'),
           r"suite file '.*suite\.toml' is not valid TOML: .*line 1")
suite_case("suite-duplicate-table-key", add("[train]\nepochs = 1\n"),
           r"is not valid TOML: Cannot declare \('train',\) twice")
suite_case("suite-empty-file", "", r"name: Field required")
suite_case("suite-5000-character-name", edit('name = "tiny"', f'name = "{"a" * 5000}"'),
           r"5000 characters long; use at most 100")
suite_case("suite-name-with-slash", edit('name = "tiny"', 'name = "../escape"'), r"may hold letters, digits")
suite_case("suite-empty-name", edit('name = "tiny"', 'name = ""'), r"suite name '' may hold")
suite_case("suite-name-not-a-string", edit('name = "tiny"', "name = 3"), r"name: Input should be a valid string")
for where, anchor, key in [
        ("top", 'seeds = [0]', "colour"), ("datasets", 'id = "core/digits"', "datasets.0.colour"),
        ("models", 'id = "tiny-linear"', "models.0.colour"), ("defenses", 'id = "erm"', "defenses.0.colour"),
        ("attacks", 'id = "sign"', "attacks.0.colour"), ("probes", 'id = "confidence"', "probes.0.colour"),
        ("train", "epochs = 3", "train.colour"), ("eval", "n = 60", "eval.colour")]:
    suite_case(f"suite-unknown-key-{where}", edit(anchor, f'{anchor}\ncolour = "red"'),
               rf"{re.escape(key)}: unknown key")
suite_case("suite-unknown-key-substitute", edit("params = {steps = 3}", 'params = {steps = 3}\nsubstitute = '
                                                '{model = "tiny-linear", defense = "erm", colour = 1}'),
           r"attacks\.0\.substitute\.colour: unknown key")
suite_case("suite-unknown-key-pretrained", add("""
    [[pretrained]]
    label = "p"
    arch = "tiny-linear"
    checkpoint = "c.safetensors"
    dataset = "core/digits"
    colour = "red"
"""), r"pretrained\.0\.colour: unknown key")
suite_case("suite-unknown-dataset-param", edit("n_test = 60}", "n_test = 60, colour = 1}"),
           r"invalid parameters for dataset 'core/digits': colour: unknown parameter\. Allowed parameters: n_test")
suite_case("suite-unknown-attack-param", edit("params = {steps = 3}", "params = {steps = 3, colour = 1}"),
           r"attack 'robarena_testkit/sign': colour: unknown parameter\. Allowed parameters: steps")
suite_case("suite-unknown-model-param", edit('id = "tiny-linear"', 'id = "tiny-linear"\nparams = {colour = 1}'),
           r"model 'robarena_testkit/tiny-linear': colour: unknown parameter\. Allowed parameters: \(none\)")
suite_case("suite-unknown-defense-param", edit('id = "erm"', 'id = "erm"\nparams = {colour = 1}'),
           r"defense 'robarena_testkit/erm': colour: unknown parameter")
suite_case("suite-unknown-probe-param", edit('id = "confidence"', 'id = "confidence"\nparams = {colour = 1}'),
           r"probe 'robarena_testkit/confidence': colour: unknown parameter")
suite_case("suite-unknown-train-override", edit('id = "erm"', 'id = "erm"\ntrain = {colour = 1}'),
           r"defense 'erm': invalid train overrides: colour: unknown key\. Allowed keys: .*epochs")
suite_case("suite-seeds-not-a-list", edit("seeds = [0]", 'seeds = "0"'), r"seeds: Input should be a valid list")
suite_case("suite-seed-not-an-integer", edit("seeds = [0]", "seeds = [0.5]"), r"seeds\.0: .*integer")
suite_case("suite-epochs-a-string", edit("epochs = 3", 'epochs = "three"'), r"train\.epochs: .*integer")
suite_case("suite-attacks-not-a-list", top('attacks = "sign"', drop=ATTACK_BLOCK),
           r"attacks: Input should be a valid list")
suite_case("suite-train-not-a-table", top("train = 3", drop="[train]\nepochs = 3\nbatch_size = 32\nlr = 0.1\n"),
           r"train: Input should be a valid dictionary")
suite_case("suite-eval-n-a-string", edit("n = 60", 'n = "all"'), r"eval\.n: .*integer")
suite_case("suite-integrity-a-string", edit("seeds = [0]", 'seeds = [0]\nintegrity = "maybe"'),
           r"integrity: .*boolean")
suite_case("suite-dataset-an-integer", top("datasets = [3]", drop=DATASET_BLOCK), r"datasets\.0: .*valid dictionary")
suite_case("suite-unknown-dataset", edit('id = "core/digits"', 'id = "core/no-such-data"'),
           r"unknown dataset 'core/no-such-data'\. Available: ")
suite_case("suite-unknown-model", edit('id = "tiny-linear"', 'id = "tiny-lineer"'),
           r"unknown model 'tiny-lineer'\. Did you mean 'tiny-linear'")
suite_case("suite-unknown-defense", edit('id = "erm"', 'id = "emr"'), r"unknown defense 'emr'\. Did you mean 'erm'")
suite_case("suite-unknown-attack", edit('id = "sign"', 'id = "sing"'), r"unknown attack 'sing'\. Did you mean 'sign'")
suite_case("suite-unknown-probe", edit('id = "confidence"', 'id = "confidense"'),
           r"unknown probe 'confidense'\. Did you mean")
suite_case("suite-unknown-task", add('[[tasks]]\nid = "no-such-task"\n'), r"unknown task 'no-such-task'")
suite_case("suite-bad-dataset-param", edit("n_test = 60}", "n_test = -5}"),
           r"dataset 'core/digits': n_test: Input should be greater than or equal to 1")
suite_case("suite-bad-attack-param", edit("params = {steps = 3}", 'params = {steps = "many"}'),
           r"attack 'robarena_testkit/sign': steps: Input should be a valid integer")
suite_case("suite-bad-model-param", edit('id = "tiny-linear"', 'id = "tiny-linear"\nparams = {num_classes = "x"}'),
           r"model 'robarena_testkit/tiny-linear': num_classes: unknown parameter")
suite_case("suite-bad-probe-param", edit('id = "confidence"', 'id = "confidence"\nparams = 3'),
           r"probes\.0\.params: .*valid dictionary")
suite_case("suite-duplicate-model-labels", edit('[[models]]\nid = "tiny-linear"\n',
                                                '[[models]]\nid = "tiny-linear"\nlabel = "m"\n'
                                                '[[models]]\nid = "tiny-conv"\nlabel = "m"\n'),
                                                    r"two model entries share the label 'm'")
suite_case("suite-duplicate-attack-labels", add('[[attacks]]\nid = "noise"\nlabel = "sign"\neps = 0.1\n'),
           r"two attack entries share the label 'sign'")
suite_case("suite-label-with-slash", edit('id = "erm"', 'id = "erm"\nlabel = "a/b"'),
           r"must be non-empty and contain no '/'")
suite_case("suite-duplicate-seeds", edit("seeds = [0]", "seeds = [0, 1, 0]"), r"duplicate seed 0")
suite_case("suite-no-seeds", edit("seeds = [0]", "seeds = []"), r"seeds: .*at least 1")
suite_case("suite-no-datasets", edit(DATASET_BLOCK, ""),
           r"a suite needs datasets, models and defenses")
suite_case("suite-no-models", top("models = []", drop='[[models]]\nid = "tiny-linear"\n'),
           r"a suite needs datasets, models and defenses")
suite_case("suite-eps-empty-list", edit("eps = 0.1", "eps = []"), r"eps = \[\] lists no radius")
for name, value, reason in [
        ("zero", "0", r"allows no perturbation"), ("negative", "-0.1", r"negative"), ("nan", "nan", r"not a number"),
        ("inf", "inf", r"Linf with eps = inf: use norm='unbounded' instead"), ("huge", "1e9",
            r"exceeds the width 1 of the box"),
        ("text", '"abc"', r"not a number"), ("division-by-zero", '"1/0"', r"not a number"),
        ("in-a-list", "[0.1, 0]", r"allows no perturbation"), ("bool", "true", r"eps = true is a boolean")]:
    suite_case(f"suite-eps-{name}", edit("eps = 0.1", f"eps = {value}"), reason)
suite_case("suite-eps-missing", edit("eps = 0.1\n", ""), r"attack 'sign' needs eps")
suite_case("suite-unknown-norm", edit("eps = 0.1", 'eps = 0.1\nnorm = "L3"'),
           r"attacks\.0\.norm: Input should be 'Linf'")
suite_case("suite-l2-eps-huge", edit("eps = 0.1", 'eps = 1e6\nnorm = "L2"'),
           r"L2 eps 1e\+06 is larger than the diameter")
suite_case("suite-steps-zero", edit("params = {steps = 3}", "params = {steps = 0}"),
           r"attack 'robarena_testkit/sign': steps: Input should be greater than or equal to 1")
suite_case("suite-steps-negative", edit("params = {steps = 3}", "params = {steps = -2}"),
           r"attack 'robarena_testkit/sign': steps: Input should be greater than or equal to 1")
suite_case("suite-classics-pgd-steps-zero", edit('id = "sign"\neps = 0.1\nparams = {steps = 3}',
                                                 'id = "classics/pgd"\neps = 0.1\nparams = {steps = 0}'),
           r"steps must be >= 1 \(got 0\)", plugins=(*PLUGIN, "-p", "classics"))
for name, value, reason in [("inf", "inf", r"finite number"), ("nan", "nan", r"finite number"),
                            ("zero", "0.0", r"greater than 0"), ("negative", "-1", r"greater than 0")]:
    suite_case(f"suite-lr-{name}", edit("lr = 0.1", f"lr = {value}"), rf"train\.lr: .*{reason}")
suite_case("suite-epochs-zero", edit("epochs = 3", "epochs = 0"), r"train\.epochs: .*greater than or equal to 1")
suite_case("suite-batch-size-zero", edit("batch_size = 32\nlr", "batch_size = 0\nlr"),
           r"train\.batch_size: Input should be greater than or equal to 1")
suite_case("suite-momentum-one", edit("lr = 0.1", "lr = 0.1\nmomentum = 1.0"), r"train\.momentum: .*less than 1")
suite_case("suite-weight-decay-inf", edit("lr = 0.1", "lr = 0.1\nweight_decay = inf"),
           r"train\.weight_decay: Input should be a finite number")
suite_case("suite-unknown-augment", edit("lr = 0.1", 'lr = 0.1\naugment = ["rotate"]'),
           r"train\.augment\.0: Input should be 'crop', 'flip' or 'resized_crop'")
suite_case("suite-eval-n-zero", edit("n = 60", "n = 0"), r"eval\.n: .*greater than or equal to 1")
suite_case("suite-per-defense-lr-inf", edit('id = "erm"', 'id = "erm"\ntrain = {lr = inf}'),
           r"invalid train overrides: lr: Input should be a finite number")
suite_case("suite-per-model-epochs-zero", edit('id = "tiny-linear"', 'id = "tiny-linear"\ntrain = {epochs = 0}'),
           r"model 'tiny-linear' x defense 'erm': invalid train overrides: epochs: .*greater than or equal to 1")


def pretrained(ctx: Ctx, arch: str = "tiny-linear", checkpoint: Optional[str] = None, more: str = "",
               dataset: str = "core/digits", label: str = "p") -> list[str]:
    ckpt = checkpoint if checkpoint is not None else str(ctx.checkpoint())
    return ctx.run(GOOD_SUITE + textwrap.dedent(f"""
        [[pretrained]]
        label = "{label}"
        arch = "{arch}"
        checkpoint = "{ckpt}"
        dataset = "{dataset}"
    """) + more)


CASES += [
    Case("suite-pretrained-missing-checkpoint", lambda ctx: pretrained(ctx, checkpoint=str(ctx.tmp / "typo.pt")), 2,
         r"checkpoint '.*typo\.pt' of 'p' does not exist"),
    Case("suite-pretrained-directory-checkpoint", lambda ctx: pretrained(ctx, checkpoint=str(ctx.tmp)), 2,
         r"checkpoint '.*' of 'p' is a directory"),
    Case("suite-pretrained-unknown-arch", lambda ctx: pretrained(ctx, arch="tiny-linaer"), 2,
         r"pretrained model 'p': unknown model 'tiny-linaer'"),
    Case("suite-pretrained-bench-factory", lambda ctx: pretrained(ctx, arch="bench.scaffold:create"), 2,
         r"robarena's own modules are never called as factories"),
    Case("suite-pretrained-bad-arch-params", lambda ctx: pretrained(ctx, more="arch_params = 3\n"), 2,
         r"pretrained\.0\.arch_params: .*valid dictionary"),
    Case("suite-pretrained-bad-data-root", lambda ctx: pretrained(ctx, dataset="core/mnist", more=(
        f'dataset_params = {{ root = "{ctx.tmp / "nowhere"}" }}\n')), 2, r"dataset 'mnist': MNIST not found"),
    Case("suite-pretrained-label-with-slash", lambda ctx: pretrained(ctx, label="a/b"), 2,
         r"pretrained\.0\.label: .*'a/b' must be non-empty and contain no '/'"),
]


# --------------------------------------------------------------------------- eval
def garbage_checkpoint(ctx: Ctx) -> list[str]:
    return ctx.eval(checkpoint=ctx.write("garbage.pt", b"not a torch file at all"))


def pickle_checkpoint(ctx: Ctx) -> list[str]:
    import torch

    path = ctx.tmp / "evil.pt"
    torch.save({"weight": Planted(ctx.marker())}, str(path))
    return ctx.eval(checkpoint=path)


def legacy_pickle_checkpoint(ctx: Ctx) -> list[str]:
    path = ctx.write("evil.pth", pickle.dumps({"state_dict": Planted(ctx.marker())}, protocol=2))
    return ctx.eval(checkpoint=path)


def mismatched_checkpoint(ctx: Ctx) -> list[str]:
    import torch
    from safetensors.torch import save_file

    path = ctx.tmp / "other.safetensors"
    save_file({"foo": torch.zeros(3)}, str(path))
    return ctx.eval(checkpoint=path)


def user_module(ctx: Ctx, name: str, source: str) -> None:
    folder = ctx.tmp / "code"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(folder))  # removed again by the test


def unmarked_factory(ctx: Ctx) -> list[str]:
    marker = ctx.marker()
    user_module(ctx, "fuzz_scripty", f"""
        import pathlib
        pathlib.Path({str(marker)!r}).touch()  # a script that does work when imported

        def make():
            return None
    """)
    return ctx.eval(arch="fuzz_scripty:make")


CASES += [
    Case("eval-missing-checkpoint", lambda ctx: ctx.eval(checkpoint=ctx.tmp / "typo.safetensors"), 2,
         r"typo\.safetensors.*does not exist"),
    Case("eval-directory-checkpoint", lambda ctx: ctx.eval(checkpoint=ctx.tmp), 2,
         r"checkpoint '.*' of '.*' is a directory; give the path of a \.safetensors"),
    Case("eval-garbage-checkpoint", garbage_checkpoint, 2, r"garbage\.pt.*not a weights-only checkpoint"),
    Case("eval-empty-checkpoint", lambda ctx: ctx.eval(checkpoint=ctx.write("empty.safetensors", b"")), 2,
         r"empty\.safetensors' is not a valid safetensors file"),
    Case("eval-pickle-checkpoint", pickle_checkpoint, 2,
         r"refusing to load '.*evil\.pt': it is not a weights-only checkpoint"),
    Case("eval-legacy-pickle-checkpoint", legacy_pickle_checkpoint, 2,
         r"refusing to load '.*evil\.pth': it is not a weights-only checkpoint"),
    Case("eval-mismatched-checkpoint", mismatched_checkpoint, 2, r"does not match the architecture"),
    Case("eval-unknown-arch", lambda ctx: ctx.eval(arch="tiny-linaer"), 2,
         r"unknown model 'tiny-linaer'\. Did you mean 'tiny-linear'"),
    Case("eval-unimportable-factory", lambda ctx: ctx.eval(arch="no_such_pkg_xyz.nets:make"), 2,
         r"no module named 'no_such_pkg_xyz'"),
    Case("eval-unmarked-factory", unmarked_factory, 2, r"does not define 'make' under @bench\.model_factory"),
    Case("eval-bench-factory", lambda ctx: ctx.eval(arch="bench.cli.main:main"), 2,
         r"robarena's own modules are never called as factories"),
    Case("eval-stdlib-factory", lambda ctx: ctx.eval(arch="os:system"), 2,
         r"refusing to call into the standard library module 'os'"),
    Case("eval-malformed-factory", lambda ctx: ctx.eval(arch="nets:make()"), 2,
         r"must look like package\.module:factory"),
    Case("eval-bad-trust-module", lambda ctx: ctx.eval(extra=["--trust-module", "os; rm -rf /"]), 2,
         r"is not a module name"),
    Case("eval-attack-without-threat", lambda ctx: ctx.eval(attacks=["sign"]), 2,
         r"--attack 'sign' must look like ID:NORM:EPS"),
    Case("eval-attack-without-eps", lambda ctx: ctx.eval(attacks=["sign:Linf"]), 2,
         r"--attack 'sign:Linf' must look like ID:NORM:EPS"),
    Case("eval-attack-unknown-norm", lambda ctx: ctx.eval(attacks=["sign:L3:0.1"]), 2, r"unknown norm 'L3'"),
    Case("eval-attack-eps-text", lambda ctx: ctx.eval(attacks=["sign:Linf:abc"]), 2,
         r"eval options.*attacks\.0\.eps: .*eps 'abc' is not a number"),
    Case("eval-attack-eps-zero", lambda ctx: ctx.eval(attacks=["sign:Linf:0"]), 2, r"allows no perturbation"),
    Case("eval-attack-eps-nan", lambda ctx: ctx.eval(attacks=["sign:Linf:nan"]), 2, r"not a number"),
    Case("eval-attack-eps-huge", lambda ctx: ctx.eval(attacks=["sign:Linf:255"]), 2, r"exceeds the width 1"),
    Case("eval-attack-param-without-value", lambda ctx: ctx.eval(attacks=["sign:Linf:0.1:steps"]), 2,
         r"--attack 'sign:Linf:0\.1:steps': 'steps' is not KEY=VALUE"),
    Case("eval-attack-steps-zero", lambda ctx: ctx.eval(attacks=["sign:Linf:0.1:steps=0"]), 2,
         r"attack 'robarena_testkit/sign': steps: Input should be greater than or equal to 1"),
    Case("eval-attack-unknown-param", lambda ctx: ctx.eval(attacks=["sign:Linf:0.1:colour=red"]), 2,
         r"attack 'robarena_testkit/sign': colour: unknown parameter"),
    Case("eval-unknown-attack", lambda ctx: ctx.eval(attacks=["sing:Linf:0.1"]), 2, r"unknown attack 'sing'"),
    Case("eval-unknown-dataset", lambda ctx: ctx.eval(dataset="core/no-such-data"), 2,
         r"unknown dataset 'core/no-such-data'"),
    Case("eval-bad-dataset-param", lambda ctx: ctx.eval(dataset="core/digits:n_test=-5"), 2,
         r"dataset 'core/digits': n_test: Input should be greater than or equal to 1"),
    Case("eval-unknown-dataset-param", lambda ctx: ctx.eval(dataset="core/digits:colour=1"), 2,
         r"dataset 'core/digits': colour: unknown parameter"),
    Case("eval-dataset-param-without-value", lambda ctx: ctx.eval(dataset="core/digits:n_test"), 2,
         r"--dataset 'core/digits:n_test': 'n_test' is not KEY=VALUE"),
    Case("eval-missing-data-root", lambda ctx: ctx.eval(dataset=f"core/mnist:root={ctx.tmp / 'nowhere'}"), 2,
         r"dataset 'mnist': MNIST not found"),
    Case("eval-unknown-probe", lambda ctx: ctx.eval(extra=["--probe", "confidense"]), 2,
         r"unknown probe 'confidense'"),
    Case("eval-unknown-probe-param", lambda ctx: ctx.eval(extra=["--probe", "confidence:colour=1"]), 2,
         r"probe 'robarena_testkit/confidence': colour: unknown parameter"),
    Case("eval-no-attack-or-probe", lambda ctx: ctx.eval(attacks=()), 2,
         r"give at least one --attack ID:NORM:EPS, --probe ID or --corruption ID"),
    Case("eval-n-zero", lambda ctx: ctx.eval(extra=["--n", "0"]), 2,
         r"eval options.*eval\.n: .*greater than or equal to 1"),
    Case("eval-n-negative", lambda ctx: ctx.eval(extra=["--n", "-3"]), 2, r"eval\.n: .*greater than or equal to 1"),
    Case("eval-arch-param-without-value", lambda ctx: ctx.eval(extra=["--arch-param", "width"]), 2,
         r"--arch-param: 'width' is not KEY=VALUE"),
    Case("eval-unknown-arch-param", lambda ctx: ctx.eval(extra=["--arch-param", "colour=1"]), 2,
         r"model 'robarena_testkit/tiny-linear': colour: unknown parameter"),
    Case("eval-label-with-slash", lambda ctx: ctx.eval(extra=["--label", "a/b"]), 2,
         r"eval options.*pretrained\.0\.label: .*'a/b' must be non-empty and contain no '/'"),
    Case("eval-bad-suite-name", lambda ctx: ctx.eval(extra=["--name", "../up"]), 2,
         r"eval options.*name: .*suite name '\.\./up' may hold letters"),
]


# --------------------------------------------------------------------------- leaderboard
NOT_FOUND = r"leaderboard version '%s' of suite '%s' not found at "


def lb(*argv: str) -> list[str]:
    return ["leaderboard", *argv]


def damage_rows(ctx: Ctx, how: str) -> Path:
    ctx.damaged = True
    rows = ctx.lb / "tiny" / "v1" / "rows.jsonl"
    data = rows.read_bytes()
    if how == "truncate":
        rows.write_bytes(data[: len(data) // 2])
    elif how == "garbage-line":
        rows.write_bytes(data + b"{not json\n")
    elif how == "resealed":  # robust accuracy raised above clean, meta.json's sha256 updated to match
        from bench.rows.schema import Accuracy

        row = json.loads(data)
        for entry in (row["attacks"][0], row["worst_case"][0]):
            entry["accuracy"] = Accuracy.of(59, 60).model_dump(mode="json")
        text = json.dumps(row) + "\n"
        rows.write_text(text)
        meta = rows.parent / "meta.json"
        meta.write_text(json.dumps({**json.loads(meta.read_text()),
                                    "rows_sha256": hashlib.sha256(text.encode()).hexdigest()}))
    return rows


def damage_meta(ctx: Ctx, how: str) -> Path:
    ctx.damaged = True
    meta = ctx.lb / "tiny" / "v1" / "meta.json"
    if how == "garbage":
        meta.write_text("{ this is not json")
    else:
        data = json.loads(meta.read_text())
        if how == "row-count":
            data["row_count"] += 1
        elif how == "sha":
            data["rows_sha256"] = "0" * 64
        elif how == "suite":
            data["suite"] = "other"
        elif how == "no-schema":
            del data["schema_version"]
        meta.write_text(json.dumps(data))
    return meta


def lb_export(ctx: Ctx) -> list[str]:
    return lb("export", "tiny", "v1", "--format", "csv", "--root", str(ctx.lb))


CASES += [
    Case("lb-build-without-runs", lambda ctx: lb("build", "tiny", "--version", "v2", "--workdir",
                                                 str(ctx.tmp / "empty"), "--root", str(ctx.lb)), 2,
         r"no results in .*empty: run 'robarena run tiny' first"),
    Case("lb-build-unknown-suite", lambda ctx: lb("build", "nosuch", "--version", "v2", "--workdir", str(ctx.wd),
                                                  "--root", str(ctx.lb)), 2,
         r"has no finished run of suite 'nosuch'"),
    Case("lb-build-existing-version", lambda ctx: lb("build", "tiny", "--version", "v1", "--workdir", str(ctx.wd),
                                                     "--root", str(ctx.lb)), 2,
                                                         r"version 'v1' of suite 'tiny' already exists .*immutable"),
    Case("lb-build-version-300-characters", lambda ctx: lb("build", "tiny", "--version", "v" * 300, "--workdir",
                                                           str(ctx.wd), "--root", str(ctx.lb)), 2,
         r"invalid version.*\(300 characters\): use at most 100"),
]
for name, version in [("slash", "v/1"), ("dotdot", ".."), ("hidden", ".v1"), ("space", "v 1"), ("empty", ""),
                      ("newline", "v1\nv2")]:
    CASES.append(Case(f"lb-build-version-{name}", lambda ctx, v=version: lb(
        "build", "tiny", "--version", v, "--workdir", str(ctx.wd), "--root", str(ctx.lb)), 2, r"invalid version"))
CASES += [
    Case("lb-build-root-a-file", lambda ctx: lb("build", "tiny", "--version", "v2", "--workdir", str(ctx.wd),
                                                "--root", str(ctx.write("lb.txt", "x"))), 2,
         r"--root .*lb\.txt is a file"),
    Case("lb-ls-root-a-file", lambda ctx: lb("ls", "--root", str(ctx.write("lb.txt", "x"))), 2,
         r"--root .*lb\.txt is a file"),
    Case("lb-diff-missing-new", lambda ctx: lb("diff", "tiny", "v1", "v9", "--root", str(ctx.lb)), 2,
         NOT_FOUND % ("v9", "tiny")),
    Case("lb-diff-missing-old", lambda ctx: lb("diff", "tiny", "v0", "v1", "--root", str(ctx.lb)), 2,
         NOT_FOUND % ("v0", "tiny")),
    Case("lb-diff-unknown-suite", lambda ctx: lb("diff", "nosuch", "v1", "v1", "--root", str(ctx.lb)), 2,
         NOT_FOUND % ("v1", "nosuch")),
    Case("lb-export-missing-version", lambda ctx: lb("export", "tiny", "v9", "--format", "md", "--root",
                                                     str(ctx.lb)), 2, NOT_FOUND % ("v9", "tiny")),
    Case("lb-export-unknown-format", lambda ctx: lb("export", "tiny", "v1", "--format", "xml", "--root",
                                                    str(ctx.lb)), 2, r"invalid choice: 'xml'"),
    Case("lb-export-output-a-directory", lambda ctx: lb("export", "tiny", "v1", "--format", "csv", "--root",
                                                        str(ctx.lb), "-o", str(ctx.tmp)), 2,
         r"-o .* is a directory; give the path of a file to write"),
    Case("lb-export-output-in-a-missing-folder", lambda ctx: lb("export", "tiny", "v1", "--format", "csv", "--root",
                                                                str(ctx.lb), "-o", str(ctx.tmp / "no" / "x.csv")), 2,
         r"-o .*x\.csv cannot be written \(No such file or directory\)"),
    Case("lb-verify-missing-snapshot", lambda ctx: lb("verify", "tiny", "v9", "--root", str(ctx.lb), "--workdir",
                                                      str(ctx.tmp / "verify")), 2, NOT_FOUND % ("v9", "tiny")),
    Case("lb-ls-unknown-suite", lambda ctx: lb("ls", "nosuch", "--root", str(ctx.lb)), 0,  # a listing: nothing
         r"no versions of suite 'nosuch' under .*build one with"),  # to list is said, not an error
    Case("lb-rows-truncated", lambda ctx: (damage_rows(ctx, "truncate"), lb_export(ctx))[1], 2,
         r"rows\.jsonl has sha256"),
    Case("lb-rows-garbage-line", lambda ctx: (damage_rows(ctx, "garbage-line"), lb_export(ctx))[1], 2,
         r"snapshot .*v1 is corrupted: rows\.jsonl has sha256"),
    Case("lb-rows-diff-against-damaged", lambda ctx: (damage_rows(ctx, "truncate"), lb(
        "diff", "tiny", "v1", "v1", "--root", str(ctx.lb)))[1], 2,
         r"snapshot .*v1 is corrupted: rows\.jsonl has sha256"),
    Case("lb-rows-resealed-above-clean", lambda ctx: (damage_rows(ctx, "resealed"), lb_export(ctx))[1], 2,
         r"rows\.jsonl line 1:.*robust.*clean"),
    Case("lb-meta-garbage", lambda ctx: (damage_meta(ctx, "garbage"), lb_export(ctx))[1], 2,
         r"snapshot .*v1 is corrupted: cannot read meta\.json \(Expecting"),
    Case("lb-meta-row-count", lambda ctx: (damage_meta(ctx, "row-count"), lb_export(ctx))[1], 2,
         r"is corrupted: rows\.jsonl holds 1 rows, meta\.json records 2"),
    Case("lb-meta-sha", lambda ctx: (damage_meta(ctx, "sha"), lb_export(ctx))[1], 2, r"rows\.jsonl has sha256"),
    Case("lb-meta-other-suite", lambda ctx: (damage_meta(ctx, "suite"), lb_export(ctx))[1], 2,
         r"is corrupted: meta\.json says suite 'other'"),
    Case("lb-meta-missing-key", lambda ctx: (damage_meta(ctx, "no-schema"), lb_export(ctx))[1], 2,
         r"is corrupted: meta\.json lacks schema_version"),
    Case("lb-meta-deleted", lambda ctx: ((ctx.lb / "tiny" / "v1" / "meta.json").unlink(), setattr(ctx, "damaged", True),
                                         lb_export(ctx))[2], 2,
         r"snapshot .*v1 is corrupted: cannot read meta\.json \(.*No such file"),
    Case("lb-show-missing-version", lambda ctx: ["show", "tiny", ROW, "--version", "v9", "--root", str(ctx.lb),
                                                 "--workdir", str(ctx.wd)], 2,
         NOT_FOUND % ("v9", "tiny")),
    Case("lb-claims-missing-version", lambda ctx: ["claims", "tiny", "--version", "v9", "--root", str(ctx.lb)], 2,
         NOT_FOUND % ("v9", "tiny")),
]


# --------------------------------------------------------------------------- datasets (verify = false: no md5 check)
def _fakes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fuzz_data_fakes", TESTS / "data" / "data_fakes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data_suite(ctx: Ctx, dataset: str, params: str) -> list[str]:
    """Suite 'data': the good suite on another dataset, run in the good work directory (whose run must survive)."""
    text = edit(DATASET_BLOCK, f'[[datasets]]\nid = "{dataset}"\nparams = {{ {params} }}\n')
    return ctx.run(text.replace('name = "tiny"', 'name = "data"'))


def decode_case(id: str, setup: Callable[[Ctx], list[str]], pattern: str) -> Case:
    """Corrupted files are found when the run reads them (nothing is decoded while planning,
    docs/datasets.md): the training cell fails naming the file, its dependants fail with it, exit 1."""
    return Case(id, setup, 1, r"failed cell\(s\):\n  \[train\] [a-z0-9]+/tiny-linear/erm/seed0: .*" + pattern,
                keep="rows")


def mnist(ctx: Ctx, damage: Callable[[Path], None], gz: bool = False) -> list[str]:
    root = ctx.tmp / "data"
    _fakes().write_mnist(root, gz=gz, raw=not gz)
    damage(root / "MNIST" / "raw")
    return data_suite(ctx, "core/mnist", f'root = "{root}", verify = false')


def planted(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"data": Planted(marker), "labels": [0]}, protocol=2))


def cifar(ctx: Ctx, damage: Callable[[Path, Path], None], which: str = "core/cifar10") -> list[str]:
    root = ctx.tmp / "data"
    base = (_fakes().write_cifar10 if which == "core/cifar10" else _fakes().write_cifar100)(root)["dir"]
    damage(base, ctx.marker())
    return data_suite(ctx, which, f'root = "{root}", verify = false')


def folder(ctx: Ctx, damage: Callable[[Path, Path], None]) -> list[str]:
    root = ctx.tmp / "folder"
    for split in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(2):
                _fakes().write_png(root / split / cls / f"{i}.png", np.full((3, 8, 8), 40 * i, np.uint8))
    damage(root, ctx.marker())
    return data_suite(ctx, "core/imagefolder", f'root = "{root}", verify = false, size = 8')


def truncate(path: Path, keep: int = -5) -> None:
    path.write_bytes(path.read_bytes()[:keep])


CASES += [
    Case("data-mnist-missing-root", lambda ctx: data_suite(ctx, "core/mnist", f'root = "{ctx.tmp / "nowhere"}"'), 2,
         r"dataset 'mnist': MNIST not found under root = '.*nowhere'.*MISSING"),
    Case("data-mnist-root-a-file", lambda ctx: data_suite(ctx, "core/mnist", f'root = "{ctx.write("f", "x")}"'), 2,
         r"dataset 'mnist': MNIST: the data root is a file"),
    Case("data-mnist-empty-root-unverified", lambda ctx: (
        (ctx.tmp / "empty").mkdir(), data_suite(ctx, "core/mnist", f'root = "{ctx.tmp / "empty"}", verify = false'))[1],
        2, r"MNIST not found under root = '.*empty'"),
    Case("data-mnist-test-ids-not-a-list", lambda ctx: data_suite(
        ctx, "core/mnist", f'root = "{ctx.tmp}", test_ids = "{ctx.write("ids.txt", "root:x:0:0:SECRET")}"'), 2,
        r"test_ids file '.*ids\.txt' is not a valid id list \(token 1 is not an integer\)"),
    Case("data-mnist-test-ids-missing-file", lambda ctx: data_suite(
        ctx, "core/mnist", f'root = "{ctx.tmp}", test_ids = "{ctx.tmp / "no-ids.txt"}"'), 2,
        r"test_ids file '.*no-ids\.txt' does not exist"),
    Case("data-imagefolder-no-test-split", lambda ctx: folder(ctx, lambda r, m: shutil.rmtree(r / "test")), 2,
         r"ImageFolder incomplete under root = .*folder/test  MISSING"),
    Case("data-imagefolder-missing-root", lambda ctx: data_suite(ctx, "core/imagefolder",
                                                                 f'root = "{ctx.tmp / "nowhere"}", size = 8'), 2,
         r"ImageFolder not found under root = '.*nowhere'"),
    decode_case("data-mnist-truncated-images", lambda ctx: mnist(ctx, lambda d: truncate(d / "t10k-images-idx3-ubyte")),
                r"t10k-images-idx3-ubyte is not a valid IDX file: its header announces"),
    decode_case("data-mnist-bad-magic", lambda ctx: mnist(ctx, lambda d: (d / "train-images-idx3-ubyte").write_bytes(
        b"\x00\x00\x09\x03" + (d / "train-images-idx3-ubyte").read_bytes()[4:])),
        r"train-images-idx3-ubyte is not a valid IDX file: its header is not"),
    decode_case("data-mnist-pickle-as-idx", lambda ctx: mnist(ctx, lambda d: planted(d / "train-labels-idx1-ubyte",
                                                                                      ctx.marker())),
                r"train-labels-idx1-ubyte is not a valid IDX file"),
    decode_case("data-mnist-label-out-of-range", lambda ctx: mnist(
        ctx, lambda d: (d / "t10k-labels-idx1-ubyte").write_bytes(_fakes().idx_bytes(np.full(10, 11, np.uint8)))),
        r"t10k-labels-idx1-ubyte holds label 11, outside 0\.\.9"),
    decode_case("data-mnist-broken-gzip", lambda ctx: mnist(
        ctx, lambda d: (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"x" * 100)[:20]), gz=True),
        r"train-labels-idx1-ubyte\.gz is not a valid gzip archive"),
    decode_case("data-cifar10-planted-pickle", lambda ctx: cifar(ctx, lambda d, m: planted(d / "data_batch_2", m)),
                r"refusing .*data_batch_2: it names posix\.system"),
    decode_case("data-cifar10-truncated-batch", lambda ctx: cifar(ctx, lambda d, m: truncate(d / "test_batch", 100)),
                r"test_batch is not a readable batch file"),
    decode_case("data-cifar10-garbage-meta", lambda ctx: cifar(
        ctx, lambda d, m: (d / "batches.meta").write_bytes(b"junk")), r"batches\.meta is not a readable batch file"),
    decode_case("data-cifar10-missing-batch", lambda ctx: cifar(ctx, lambda d, m: (d / "data_batch_5").unlink()),
                r"CIFAR-10 incomplete under root = .*data_batch_5  MISSING"),
    decode_case("data-cifar100-planted-pickle", lambda ctx: cifar(ctx, lambda d, m: planted(d / "train", m),
                                                                  which="core/cifar100"),
                r"refusing .*cifar-100-python/train: it names posix\.system"),
    decode_case("data-imagefolder-truncated-png", lambda ctx: folder(
        ctx, lambda r, m: truncate(r / "test" / "a" / "1.png", 30)), r"test/a/1\.png is not a readable image"),
    decode_case("data-imagefolder-pickle-as-png", lambda ctx: folder(
        ctx, lambda r, m: planted(r / "train" / "b" / "0.png", m)), r"train/b/0\.png is not a readable image"),
    decode_case("data-svhn-garbage-mat", lambda ctx: (
        _fakes().write_svhn(ctx.tmp / "data"), (ctx.tmp / "data" / "svhn" / "test_32x32.mat").write_bytes(b"junk"),
        data_suite(ctx, "core/svhn", f'root = "{ctx.tmp / "data"}", verify = false'))[2],
        r"test_32x32\.mat is not a valid SVHN file"),
]


# --------------------------------------------------------------------------- store damage
def damage(ctx: Ctx, how: str) -> Path:
    """Damage the copy of the good work directory; the command must leave the damage exactly as it is."""
    ctx.damaged = True
    db = ctx.wd / "results.sqlite"
    if how == "db-directory":
        db.unlink()
        db.mkdir()
        (db / "keep.txt").write_text("kept\n")
    elif how == "garbage-header":
        data = bytearray(db.read_bytes())
        data[:16] = b"not sqlite at al"
        db.write_bytes(bytes(data))
    elif how == "truncated-db":
        db.write_bytes(db.read_bytes()[:1024])
    elif how == "flipped-digit":
        ((key, payload),) = sql(db, "SELECT key, payload FROM cells WHERE stage = 'attack'")
        value = json.loads(payload)["robust_accuracy"]
        text = repr(value)
        i = next(i for i, ch in enumerate(text) if ch.isdigit() and ch != "0")
        flipped = text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1:]
        sql(db, "UPDATE cells SET payload = ? WHERE key = ?", (payload.replace(text, flipped, 1), key))
    elif how == "deleted-artifact":
        ((payload,),) = sql(db, "SELECT payload FROM cells WHERE stage = 'attack'")
        digest = json.loads(payload)["arrays"]
        (ctx.wd / "cache" / "objects" / digest[:2] / digest).unlink()
    elif how == "cell-list":
        sql(db, "UPDATE runs SET cell_keys = '[\"abc'")
    elif how == "no-runs-table":
        sql(db, "DROP TABLE runs")
    else:
        raise AssertionError(how)
    return ctx.wd


def on_damaged(how: str, *argv: str, suite: bool = False) -> Callable[[Ctx], list[str]]:
    def setup(ctx: Ctx) -> list[str]:
        wd = damage(ctx, how)
        if suite:
            return ["run", str(ctx.write("suite.toml", GOOD_SUITE)), "--workdir", str(wd), "--no-progress"]
        return [fill(a, ctx) for a in argv] + ["--workdir", str(wd)]
    return setup


MISSING_ARTIFACT = (r"cell 'digits/tiny-linear/erm/seed0 :: sign Linf 0\.1': artifact [0-9a-f]{12} is missing from "
                    r".*run the suite again")
DB_MALFORMED = r"results\.sqlite cannot be read as a results database \(database disk image is malformed\)"
DB_UNREADABLE = r"results\.sqlite cannot be read as a results database.*restore it from a backup"
CASES += [
    Case("store-db-directory-show", on_damaged("db-directory", "show", "tiny", ROW), 2,
         r"results\.sqlite is a directory.*move it aside"),
    Case("store-db-directory-check", on_damaged("db-directory", "store", "check"), 2,
         r"results\.sqlite is a directory"),
    Case("store-db-directory-run", on_damaged("db-directory", suite=True), 2, r"results\.sqlite is a directory"),
    Case("store-db-directory-build", on_damaged("db-directory", "leaderboard", "build", "tiny", "--version", "v2",
                                                "--root", "{lb}"), 2, r"results\.sqlite is a directory"),
    Case("store-garbage-header-show", on_damaged("garbage-header", "show", "tiny", ROW), 2, DB_UNREADABLE),
    Case("store-garbage-header-check", on_damaged("garbage-header", "store", "check"), 2, DB_UNREADABLE),
    Case("store-garbage-header-repair", on_damaged("garbage-header", "store", "check", "--repair"), 2, DB_UNREADABLE),
    Case("store-garbage-header-runs", on_damaged("garbage-header", "store", "runs"), 2, DB_UNREADABLE),
    Case("store-garbage-header-run", on_damaged("garbage-header", suite=True), 2, DB_UNREADABLE),
    Case("store-garbage-header-claims", on_damaged("garbage-header", "claims", "tiny"), 2, DB_UNREADABLE),
    Case("store-garbage-header-compare", on_damaged("garbage-header", "compare", "tiny", ROW, ROW), 2,
         DB_UNREADABLE),
    Case("store-truncated-db-show", on_damaged("truncated-db", "show", "tiny", ROW), 2, DB_MALFORMED),
    Case("store-truncated-db-check", on_damaged("truncated-db", "store", "check"), 2, DB_MALFORMED),
    Case("store-flipped-digit-show", on_damaged("flipped-digit", "show", "tiny", ROW), 2,
         r"does not match its checksum.*--repair"),
    Case("store-flipped-digit-check", on_damaged("flipped-digit", "store", "check"), 1,
         r"1 problem\(s\):\n  cell record '.* :: sign Linf 0\.1' .*: does not match its checksum.*--repair"),
    Case("store-flipped-digit-build", on_damaged("flipped-digit", "leaderboard", "build", "tiny", "--version", "v2",
                                                 "--root", "{lb}"), 2, r"does not match its checksum"),
    Case("store-flipped-digit-claims", on_damaged("flipped-digit", "claims", "tiny"), 2,
         r"does not match its checksum"),
    Case("store-flipped-digit-compare", on_damaged("flipped-digit", "compare", "tiny", ROW, ROW), 2,
         r"does not match its checksum"),
    Case("store-deleted-artifact-check", on_damaged("deleted-artifact", "store", "check"), 1,
         r"1 problem\(s\):\n  cell record '.* :: sign Linf 0\.1' .*: artifact arrays \([0-9a-f]{12}, .*\) is missing"),
    Case("store-deleted-artifact-show", on_damaged("deleted-artifact", "show", "tiny", ROW), 2, MISSING_ARTIFACT),
    Case("store-deleted-artifact-build", on_damaged("deleted-artifact", "leaderboard", "build", "tiny", "--version",
                                                    "v2", "--root", "{lb}"), 2, MISSING_ARTIFACT),
    Case("store-deleted-artifact-claims", on_damaged("deleted-artifact", "claims", "tiny"), 2, MISSING_ARTIFACT),
    Case("store-deleted-artifact-compare", on_damaged("deleted-artifact", "compare", "tiny", ROW, ROW), 2,
         MISSING_ARTIFACT),
    Case("store-damaged-cell-list-show", on_damaged("cell-list", "show", "tiny", ROW), 2, r"has a damaged cell list"),
    Case("store-damaged-cell-list-check", on_damaged("cell-list", "store", "check"), 1,
         r"run [0-9a-f]+ of suite 'tiny' has a damaged cell list"),
    Case("store-no-runs-table-show", on_damaged("no-runs-table", "show", "tiny", ROW), 2,
         r"has no finished run of suite 'tiny'", keep="cells"),
]
for command in (["show", "tiny", ROW], ["store", "check"], ["store", "runs"], ["claims", "tiny"],
                ["compare", "tiny", ROW, ROW], ["run", "tiny"]):
    CASES.append(Case(f"store-workdir-a-file-{command[0]}-{command[1]}", lambda ctx, c=command: [
        *c, "--workdir", str(ctx.write("notes.txt", "my notes\n"))], 2, r"--workdir .*notes\.txt is a file"))
CASES += [
    Case("store-read-only-workdir-run", lambda ctx: [
        "run", str(ctx.write("suite.toml", GOOD_SUITE)), "--workdir", str(ctx.wd), "--no-progress"], 2,
        r"--workdir .*wd cannot be written", read_only=True),
    Case("store-read-only-workdir-repair", lambda ctx: ["store", "check", "--repair", "--workdir", str(ctx.wd)], 2,
         r"work directory .*wd is read-only", read_only=True),
]
CASES.append(Case("store-workdir-under-a-file", lambda ctx: [
    "show", "tiny", ROW, "--workdir", str(ctx.write("notes.txt", "my notes\n") / "sub")], 2,
    r"a parent of it is a file"))


# --------------------------------------------------------------------------- unknown suites and rows
CASES += [
    Case("show-unknown-row", lambda ctx: ["show", "tiny", "no-such-row", "--workdir", str(ctx.wd)], 2,
         r"0 rows match 'no-such-row'; give a row id or a substring"),
    Case("show-unknown-suite", lambda ctx: ["show", "nosuch", ROW, "--workdir", str(ctx.wd)], 2,
         r"has no finished run of suite 'nosuch'"),
    Case("show-empty-workdir", lambda ctx: ["show", "tiny", ROW, "--workdir", str(ctx.tmp / "none")], 2,
         r"no results in .*none: run 'robarena run tiny' first"),
    Case("claims-unknown-suite", lambda ctx: ["claims", "nosuch", "--workdir", str(ctx.wd)], 2,
         r"no registered claim is about suite 'nosuch'"),
    Case("compare-unknown-row", lambda ctx: ["compare", "tiny", ROW, "nope/row", "--workdir", str(ctx.wd)], 2,
         r"suite 'tiny' has no row 'nope/row'"),
    Case("compare-unknown-suite", lambda ctx: ["compare", "nosuch", ROW, ROW, "--workdir", str(ctx.wd)], 2,
         r"has no finished run of suite 'nosuch'"),
    Case("compare-seeds-unknown-configuration", lambda ctx: ["compare", "--seeds", "tiny", "digits/tiny-linear/erm",
                                                             "digits/x/y", "--workdir", str(ctx.wd)], 2,
         r"suite 'tiny' has no configuration 'digits/x/y'"),
    Case("store-check-missing-workdir", lambda ctx: ["store", "check", "--workdir", str(ctx.tmp / "none")], 2,
         r"no results database in .*none: nothing to check"),
    Case("store-runs-missing-workdir", lambda ctx: ["store", "runs", "--workdir", str(ctx.tmp / "none")], 2,
         r"no results in .*none: run a suite"),
]


# =========================================================================== running the table
@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """One good run of suite 'tiny' (one row) and a leaderboard v1 built from it, made once per module."""
    import bench
    from bench.registry import _CACHE

    base = tmp_path_factory.mktemp("fuzz-good")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(TESTKIT))
        mp.setenv("ROBARENA_DISABLE_PLUGIN_AUTOLOAD", "1")
        _CACHE.clear()
        suite = base / "tiny.toml"
        suite.write_text(GOOD_SUITE, encoding="utf-8")
        result = bench.run(str(suite), workdir=base / "wd", plugins=("robarena_testkit",), device="cpu")
        assert result.ok and len(result.rows) == 1
        assert main(["leaderboard", "build", "tiny", "--version", "v1", "--workdir", str(base / "wd"), "--root",
                     str(base / "lb")]) == 0
        _CACHE.clear()
    return base / "wd", base / "lb", stored_rows(base / "wd")


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_has_at_least_100_distinct_cases():
    ids = [c.id for c in CASES]
    assert len(ids) >= 100 and len(set(ids)) == len(ids), [i for i in ids if ids.count(i) > 1]


def cells(workdir: Path) -> list[tuple]:
    return sql(workdir / "results.sqlite", "SELECT * FROM cells ORDER BY key")


def tiny_runs(workdir: Path) -> list[tuple]:
    return sql(workdir / "results.sqlite", "SELECT run_id, status FROM runs WHERE suite = 'tiny' ORDER BY rowid")


def invoke(case: Case, ctx: Ctx, argv: list[str], capsys) -> tuple[int, str, str]:
    if not case.read_only:
        return run_cli([*case.plugins, *argv], capsys)
    from store_helpers import cli_child, make_read_only, make_writable

    make_read_only(ctx.wd)  # as root, the child drops the capabilities that ignore file permissions
    try:
        (result,) = cli_child(argv, cwd=ctx.tmp, unprivileged=True)
    finally:
        make_writable(ctx.wd)
    return result["code"], result["out"], result["err"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, good, tmp_path, capsys, testkit, monkeypatch):
    good_wd, good_lb, good_rows = good
    monkeypatch.setattr(sys, "path", list(sys.path))  # cases may put user code on sys.path
    ctx = Ctx(tmp_path, good_wd, good_lb)
    argv = case.setup(ctx)
    used = [p for p in (ctx._wd, ctx._lb) if p is not None]
    files = {p: digest_tree(p) for p in used}
    records = cells(ctx.wd) if case.keep == "cells" else None
    runs = tiny_runs(ctx.wd) if ctx._wd is not None and not ctx.damaged else None

    code, out, err = invoke(case, ctx, argv, capsys)

    assert "Traceback" not in out + err, err
    assert code == case.code, (code, out, err)
    if code == 2:  # argparse's usage line, or one ERROR line from robarena
        assert err.startswith("ERROR: ") or re.search(r"^robarena[\w -]*: error: ", err, re.M), err
    assert re.search(case.pattern, err if code == 2 else out + err, re.S), (case.pattern, out, err)
    for marker in ctx.markers:
        assert not marker.exists(), "code planted in a data or model file ran"
    # nothing stored is lost: the files the case used are byte for byte as they were (damage included) ...
    if case.keep == "files":
        assert {p: digest_tree(p) for p in used} == files
    elif case.keep == "cells":
        assert cells(ctx.wd) == records
    # ... and the good run is still the latest run of its suite, with the same rows
    if runs is not None:
        assert tiny_runs(ctx.wd) == runs
        assert stored_rows(ctx.wd) == good_rows
