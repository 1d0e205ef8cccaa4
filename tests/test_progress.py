"""Progress (issue #18, item 2): bars only on a terminal, naming the running cell; one plain line per
finished cell otherwise; training and task loops follow the same rule."""
import re

import torch
from runner_helpers import tiny_suite

import bench
import bench.progress
from bench.api.data import DatasetSplits
from bench.api.task import TaskInput
from bench.cli.main import main
from bench.progress import NullBar, progress_bar
from bench.testing.tiny import tiny_batch

LINE = re.compile(r"^\[(\d+)/(\d+)\] (.+?)  (ok|cached|FAILED)(  \d+\.\d+s)?$")


def suite_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\n[[datasets]]\nid = "core/digits"\nparams = {n_train = 300, n_test = 60}\n'
                    '[[models]]\nid = "tiny-linear"\n[[defenses]]\nid = "erm"\n[[attacks]]\nid = "sign"\n'
                    'eps = 0.1\nparams = {steps = 3}\n[[probes]]\nid = "confidence"\n[train]\nepochs = 2\n'
                    '[eval]\nn = 60\n')
    return path


def test_off_a_terminal_there_are_no_bars_and_one_line_per_finished_cell(tmp_path, testkit, capsys):
    argv = ["-p", testkit[0], "run", str(suite_file(tmp_path)), "--workdir", str(tmp_path / "w")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "\x1b" not in captured.err  # no carriage-return frames, no escapes
    lines = captured.err.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    computed = int(re.search(r"(\d+) cell\(s\) computed", captured.out).group(1))
    # train, clean, one attack, one probe: four cells, each counted once, in order
    assert computed == 4 and [(int(m[1]), int(m[2])) for m in parsed] == [(i, 4) for i in range(1, 5)]
    ids = [m[3] for m in parsed]
    assert len(set(ids)) == 4 and ids[0] == "digits/tiny-linear/erm/seed0" and "sign Linf 0.1" in ids[2]
    assert {m[4] for m in parsed} == {"ok"} and all(m[5] for m in parsed)  # computed cells with their time

    assert main(argv) == 0  # a second run reuses every cell
    lines = capsys.readouterr().err.splitlines()
    assert [LINE.match(line)[4] for line in lines] == ["cached"] * 4

    assert main(argv + ["--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_on_a_terminal_the_bar_names_the_cell_that_is_running(tmp_path, testkit, capsys, monkeypatch):
    monkeypatch.setattr(bench.progress, "stderr_is_terminal", lambda: True)
    result = bench.run(tiny_suite(probes=[]), workdir=tmp_path, plugins=testkit, progress=True)
    assert result.ok
    err = capsys.readouterr().err
    frames = [f for f in re.split(r"[\r\n]", err) if re.search(r"\| \d+/3 \[", f)]  # the cell bar's, not training's
    order = ["digits/tiny-linear/erm/seed0", "digits/tiny-linear/erm/seed0 :: clean",
             "digits/tiny-linear/erm/seed0 :: sign Linf 0.1"]  # the plan's order: train, clean, attack
    for done_before, cell_id in enumerate(order):
        first = next((f for f in frames if f.lstrip().startswith(cell_id + ":")), None)
        assert first is not None, (cell_id, frames)
        assert re.search(r"\| (\d+)/3 ", first)[1] == str(done_before), (cell_id, first)


def test_progress_bar_follows_the_terminal_rule(monkeypatch):
    monkeypatch.setattr(bench.progress, "stderr_is_terminal", lambda: False)
    assert isinstance(progress_bar(10, "x"), NullBar)
    monkeypatch.setattr(bench.progress, "stderr_is_terminal", lambda: True)
    assert isinstance(progress_bar(10, "x", enabled=False), NullBar)
    bar = progress_bar(10, "x")
    try:
        assert not isinstance(bar, NullBar) and bar.total == 10 and bar.desc == "x"
    finally:
        bar.close()


def test_task_input_progress_bar_is_a_bar_only_when_the_run_shows_progress_on_a_terminal(monkeypatch):
    x, y = tiny_batch(n=4)
    data = DatasetSplits(x, y, x, y, num_classes=10)
    monkeypatch.setattr(bench.progress, "stderr_is_terminal", lambda: True)
    quiet = TaskInput(data=data, device=torch.device("cpu"), progress=False).progress_bar(5, "inversion")
    assert isinstance(quiet, NullBar)
    with TaskInput(data=data, device=torch.device("cpu"), progress=True).progress_bar(5, "inversion") as bar:
        bar.update(5)
        assert not isinstance(bar, NullBar) and bar.n == 5 and bar.desc == "inversion"
    monkeypatch.setattr(bench.progress, "stderr_is_terminal", lambda: False)
    with TaskInput(data=data, device=torch.device("cpu"), progress=True).progress_bar(5, "inversion") as bar:
        bar.update(2)
        assert isinstance(bar, NullBar) and bar.n == 2


def test_stderr_is_terminal_reads_the_stream(monkeypatch):
    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    monkeypatch.setattr("sys.stderr", Stream(True))
    assert bench.progress.stderr_is_terminal()
    monkeypatch.setattr("sys.stderr", Stream(False))
    monkeypatch.delitem(__import__("sys").modules, "IPython", raising=False)
    assert not bench.progress.stderr_is_terminal()
