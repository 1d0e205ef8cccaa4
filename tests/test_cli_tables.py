"""Terminal tables that fit the width (issue #18, item 1): compact rows, --columns, --all, seed aggregates, claims."""
import io
import re

import pytest

from bench.api.claim import ClaimResult
from bench.claims import ClaimOutcome
from bench.cli.main import main
from bench.cli.tables import (DEFAULT_WIDTH, TableOptions, choose_columns, claims_view, matches, render_text,
                              rows_view, terminal_width)
from bench.errors import UsageError
from bench.leaderboard.render import to_markdown
from bench.rows.schema import Accuracy, Row

PROV = {"core_version": "0", "plugins": {}, "specs": {}, "config_hash": "c", "data_fingerprint": "d", "seed": 0,
        "n": 500, "device": "cpu", "date": "2026-01-01T00:00:00Z", "torch_version": "t", "platform": "p",
        "suite": "s", "suite_version": "1"}
EPS = [("0.1", 0.1), ("8/255", 8 / 255), ("0.3", 0.3)]


def make_row(defense="standard", seed=0, clean=467, robust=244, n=500, flags=(), probes=None, tasks=None, eps=EPS):
    """A digits/small-cnn row: FGSM and PGD at every eps (PGD: ``robust`` of ``n``), probes and tasks."""
    attacks, worst = [], []
    for display, value in eps:
        threat = {"norm": "Linf", "eps": value, "eps_display": display, "targeted": False}
        for label, k in (("fgsm", robust + 20), ("pgd", robust)):
            attacks.append({"attack_id": f"classics/{label}", "label": label, "params": {}, "threat": threat,
                            "accuracy": Accuracy.of(k, n).model_dump()})
        worst.append({"threat": threat, "attacks": ["fgsm", "pgd"], "accuracy": Accuracy.of(robust, n).model_dump()})
    metrics = [{"kind": kind, "source_id": f"x/{label}", "label": label, "column": column, "value": value}
               for kind, values in (("probe", probes or {}), ("task", tasks or {}))
               for (label, column), value in values.items()]
    return Row.model_validate({
        "row_id": f"digits/small-cnn/{defense}/seed{seed}", "dataset": "digits", "model": "small-cnn",
        "defense": defense, "seed": seed, "dataset_id": "core/digits", "model_id": "classics/small-cnn",
        "defense_id": f"classics/{defense}", "clean": Accuracy.of(clean, n).model_dump(), "attacks": attacks,
        "worst_case": worst, "probe_results": [m for m in metrics if m["kind"] == "probe"],
        "task_results": [m for m in metrics if m["kind"] == "task"], "flags": list(flags),
        "provenance": {**PROV, "seed": seed, "n": n}})


PROBES = {("margin", "mean"): 12.06, ("margin", "median"): 12.59, ("integrity", "grad_zero_frac"): 0.0,
          ("integrity", "loss_rise"): 0.01238}
TASKS = {("transfer", f"{target}.{metric}"): 0.5 for target in ("near", "far")
         for metric in ("accuracy", "emd", "robust_accuracy", "loss")}


def wide_rows():
    return [make_row("standard", probes=PROBES, tasks=TASKS),
            make_row("pgd-at", clean=481, robust=407, probes=PROBES, tasks=TASKS, flags=("loss-rise:pgd Linf 0.3",))]


def text(rows, width=DEFAULT_WIDTH, **options):
    return render_text(rows_view(rows, TableOptions(width=width, **options)), width)


def widest(out: str) -> int:
    return max(len(line) for line in out.splitlines())


def test_the_markdown_table_of_a_wide_suite_does_not_fit_and_the_terminal_table_does():
    rows = wide_rows()
    assert widest(to_markdown(rows)) > 700  # the export keeps every column, one line per row
    for width in (60, 80, 100, 160):
        for options in ({}, {"show_all": True}, {"columns": ("robust[*]", "task[*")}):
            assert widest(text(rows, width, **options)) <= width, (width, options)


def test_compact_view_shows_clean_and_worst_case_with_intervals_and_names_what_it_hides():
    out = text(wide_rows())
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    assert lines[header].split()[:4] == ["model", "defense", "dataset", "clean"]
    assert lines[header - 1].split() == ["worst"] * 3 and lines[header].split()[4:] == ["Linf", "0.1", "Linf",
                                                                                        "8/255", "Linf", "0.3",
                                                                                        "flags"]
    standard = next(line for line in lines if "standard" in line).split()
    # 467/500: Clopper-Pearson [90.86, 95.41] %; 244/500: [44.34, 53.28] %: the larger side is the ±
    assert standard[:7] == ["small-cnn", "standard", "digits", "93.4", "±", "2.5", "48.8"]
    assert "⚠" in next(line for line in lines if "pgd-at" in line)
    assert "loss-rise:pgd Linf 0.3" in " ".join(out.split())  # the flags column wraps
    assert "12.06" not in out and "53.6" not in out  # probe and per-attack values are hidden ...
    # ... and named by family (a glob that selects them) with their counts
    assert "more columns: robust[*] (6), probe[margin.*] (2), probe[integrity.*] (2), task[transfer.*] (8)" \
        in " ".join(out.split())


def test_columns_adds_what_matches_a_glob_or_a_regex():
    rows = wide_rows()
    out = text(rows, columns=("robust[pgd*0.1]",))
    assert "pgd" in out.split() and "fgsm" not in out.split() and "12.06" not in out
    out = text(rows, columns=(r"margin\.(mean|median)",))
    assert "12.06" in out and "12.59" in out and "0.01238" not in out
    out = text(rows, columns=("INTEGRITY",))  # case-insensitive
    assert "0.01238" in out and "12.06" not in out
    with pytest.raises(UsageError, match=r"--columns 'nothing\*' matches no column; the columns are: clean, "):
        text(rows, columns=("nothing*",))


def test_matching_treats_brackets_literally_in_globs():
    assert matches("probe[margin.mean]", "probe[margin.*]")
    assert matches("probe[margin.mean]", "probe[margin*")  # a regex would fail to compile: the glob decides
    assert not matches("probe[margin.mean]", "probe[m]")  # no character class: the glob wants a literal "[m]"
    assert choose_columns(["clean", "a", "b"], ["clean"], [], show_all=True) == ["clean", "a", "b"]
    assert choose_columns(["clean", "a", "b"], ["clean"], ["b"], show_all=False) == ["clean", "b"]


def test_all_repeats_the_labels_in_every_table_and_shows_every_value():
    rows = wide_rows()
    out = text(rows, 80, show_all=True)
    tables = [block for block in out.split("\n\n") if "───" in block]
    assert len(tables) > 2
    assert all(block.count("small-cnn") == 2 and "standard" in block for block in tables)
    for value in ("52.8", "12.06", "12.59", "0.01238", "0.5"):
        assert value in out
    assert "more columns" not in out


def test_several_seeds_show_aggregates_by_default_and_seed_rows_on_demand():
    rows = [make_row("pgd-at", seed, clean=clean, robust=robust, flags=flags)
            for seed, clean, robust, flags in ((0, 450, 200, ()), (1, 460, 210, ("f",)), (2, 470, 220, ()))]
    out = text(rows)
    line = next(line for line in out.splitlines() if "pgd-at" in line).split()
    # clean 90, 92, 94 %: mean 92.0, sample std 2.0; robust 40, 42, 44 %: 42.0 ± 2.0; 3 seeds; flag on 1 of 3
    assert line[:10] == ["small-cnn", "⚠", "pgd-at", "digits", "3", "92.0", "±", "2.0", "42.0", "±"]
    assert "f (1/3)" in out and "--seeds" in out
    seeds = text(rows, seeds=True)
    lines = [line.split() for line in seeds.splitlines() if "pgd-at" in line]
    assert [line[3] if line[1] != "⚠" else line[4] for line in lines] == ["0", "1", "2"]
    assert "90.0 ± 3.0" in seeds  # 450/500: its own interval [87.03, 92.49] %, not a spread over seeds


def test_a_metric_a_seed_lacks_is_counted_not_imputed():
    rows = [make_row("at", 0, robust=200), make_row("at", 1, robust=210), make_row("at", 2, robust=220)]
    rows[2] = Row.model_validate({**rows[2].model_dump(), "worst_case": [
        {**w.model_dump(), "accuracy": None} for w in rows[2].worst_case]})
    out = text(rows)
    assert "41.0 ± 1.4 (2/3)" in out  # 40 and 42 %: mean 41.0, sample std 1.41; the third seed failed


def test_terminal_width_off_a_terminal_is_columns_or_100(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal_width(io.StringIO()) == DEFAULT_WIDTH == 100
    monkeypatch.setenv("COLUMNS", "123")
    assert terminal_width(io.StringIO()) == 123


def table_lines(out: str) -> str:
    """What ``run`` prints before its summary line (which ends with the work directory's path)."""
    return out[:out.index(" row(s); ")]


def outcome(claim, holds, detail, numbers=None):
    statement = "adversarially trained models have a lower input-gradient norm than standard ones " * 3
    return ClaimOutcome(claim, statement.strip(), "Paper2020", ClaimResult(holds, numbers or {}, detail))


def test_claims_compact_view_cuts_the_evidence_to_the_width_and_all_shows_everything():
    outcomes = [outcome("margins/p1-cpu.gap-grows", True, "", {"gap_standard": 0.3191, "gap_pgd_at": 0.1157}),
                outcome("margins/p1-cpu.margin-shrinks", None, "missing data: " + "no row with defense 'x'; " * 10)]
    compact = render_text(claims_view(outcomes, width=90), 90)
    assert widest(compact) <= 90
    lines = compact.splitlines()
    assert lines[0].split() == ["claim", "verdict", "evidence"]
    assert lines[2].split()[:3] == ["margins/p1-cpu.gap-grows", "holds", "gap_standard=0.3191,"]
    assert lines[3].rstrip().endswith("…") and "not checked" in lines[3]
    assert "adversarially" not in compact and "--all" in compact
    full = render_text(claims_view(outcomes, show_all=True, width=90), 90)
    assert widest(full) <= 90
    flat = re.sub(r"\s+", " ", full)
    assert "standard ones adversarially trained" in flat and "gap_pgd_at=0.1157" in flat


def test_run_prints_a_table_that_fits_and_warns_on_a_pattern_that_matches_nothing(tmp_path, testkit, capsys,
                                                                                  monkeypatch):
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        'name = "tiny"\n[[datasets]]\nid = "core/digits"\nparams = {n_train = 300, n_test = 60}\n'
        '[[models]]\nid = "tiny-linear"\n[[defenses]]\nid = "erm"\n[[attacks]]\nid = "sign"\neps = 0.1\n'
        'params = {steps = 3}\n[[probes]]\nid = "confidence"\n[train]\nepochs = 1\n[eval]\nn = 60\n')
    monkeypatch.setenv("COLUMNS", "60")
    argv = ["-p", testkit[0], "run", str(toml), "--workdir", str(tmp_path / "w"), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert widest(table_lines(out)) <= 60 and "worst" in out and "more columns: robust[*] (1)" in " ".join(out.split())
    assert main(argv + ["--columns", "nothing-like-this"]) == 0  # the results are stored: a warning, not an error
    captured = capsys.readouterr()
    assert "WARNING: --columns 'nothing-like-this' matches no column" in captured.err
    assert "worst" in captured.out and "1 row(s); 0 cell(s) computed" in captured.out
    assert main(argv + ["--all"]) == 0
    out = capsys.readouterr().out
    assert widest(table_lines(out)) <= 60 and "confidence" in out and "more columns" not in out
