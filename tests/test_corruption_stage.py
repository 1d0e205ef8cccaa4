"""The corruption threat kind: suites, plan, stage, caching, rows (mean, mCE), frame and the eval CLI.

Uses the core test plugins only (``robarena_testkit`` models and defenses, ``robarena_corruptkit``'s
closed-form corruptions: identity, pepper (random), dim (deterministic)).
"""
from __future__ import annotations

import sys

import pytest
import torch

import bench
from bench.errors import ConfigError, UnknownComponentError, UsageError
from bench.rows.corruption import fractional_clopper_pearson, mce, mean_accuracy, with_mce
from bench.rows.frame import find_columns, is_accuracy, to_frame
from bench.rows.io import row_invariant_problems, validate_row
from bench.rows.schema import Accuracy, CorruptionSummary
from bench.testing import rows as hand

N = 40


@pytest.fixture
def kit(testkit):
    yield (*testkit, "robarena_corruptkit")
    for mod in ("robarena_corruptkit", "robarena_corruptkit_impl"):
        sys.modules.pop(mod, None)


def suite(**overrides):
    data = {"name": "corr", "datasets": [{"id": "core/digits", "params": {"n_train": 300, "n_test": N}}],
            "models": [{"id": "tiny-linear"}],
            "defenses": [{"id": "erm"}, {"id": "erm", "label": "erm-short", "train": {"epochs": 1}}],
            "corruptions": [{"id": "identity", "severity": [1, 5]}, {"id": "pepper", "severity": 4},
                            {"id": "dim", "severity": 5}],
            "corruption_baseline": "tiny-linear/erm",
            "train": {"epochs": 2, "batch_size": 32, "lr": 0.1}, "eval": {"n": N, "batch_size": 16}}
    data.update(overrides)
    return data


def plan_of(data, kit):
    from bench.registry import get_registry
    from bench.runner.plan import build_plan
    from bench.runner.suite import suite_from_dict

    return build_plan(suite_from_dict(data), get_registry(kit))


# --------------------------------------------------------------------------- suites and plan

def test_plan_has_one_cell_per_row_corruption_and_severity(kit):
    plan = plan_of(suite(), kit)
    assert len(plan.train_cells) == 2 and len(plan.corruption_cells) == 2 * (2 + 1 + 1)
    assert plan.n_cells == 2 * 2 + 8
    first = plan.train_cells[0]
    assert [c.cell_id for c in plan.corruptions_for(first)] == [
        f"{first.row_id} :: corruption identity s1", f"{first.row_id} :: corruption identity s5",
        f"{first.row_id} :: corruption pepper s4", f"{first.row_id} :: corruption dim s5"]
    assert {c.baseline for c in plan.corruption_cells} == {"digits/tiny-linear/erm/seed0"}


def test_a_plugin_wildcard_expands_to_its_corruptions_by_family_with_default_severities(kit):
    plan = plan_of(suite(corruptions=[{"id": "robarena_corruptkit/*"}], defenses=[{"id": "erm"}],
                         corruption_baseline=None), kit)
    labels = list(dict.fromkeys(c.corruption.label for c in plan.corruption_cells))
    assert labels == ["pepper", "dim", "identity"]  # noise, weather, digital
    assert [c.severity for c in plan.corruption_cells[:5]] == [1, 2, 3, 4, 5] and len(plan.corruption_cells) == 15


@pytest.mark.parametrize("change, message", [
    ({"corruptions": [{"id": "identity", "severity": 6}]}, "severity 6 is not an int in 1..5"),
    ({"corruptions": [{"id": "identity", "severity": 0}]}, "severity 0 is not an int in 1..5"),
    ({"corruptions": [{"id": "identity", "severity": []}]}, "lists no severity"),
    ({"corruptions": [{"id": "identity", "severity": [2, 2]}]}, "lists a severity twice"),
    ({"corruptions": [{"id": "robarena_corruptkit/*", "label": "x"}]}, "leave out label"),
    ({"corruptions": []}, "corruption_baseline is set but the suite lists no [[corruptions]]"),
])
def test_bad_corruption_entries_are_usage_errors(kit, change, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        plan_of(suite(**change), kit)


def test_unknown_ids_unmatched_baselines_and_bad_params_fail_before_running(kit):
    with pytest.raises(UnknownComponentError, match="unknown corruption 'fog'"):
        plan_of(suite(corruptions=[{"id": "fog"}]), kit)
    with pytest.raises(UsageError, match="plugin 'nobody' registers no corruption"):
        plan_of(suite(corruptions=[{"id": "nobody/*"}]), kit)
    with pytest.raises(UsageError, match="corruption_baseline = 'tiny-linear/pgd' matches no row of digits seed 0.*"
                                         "'tiny-linear/erm'"):
        plan_of(suite(corruption_baseline="tiny-linear/pgd"), kit)
    with pytest.raises(ConfigError, match="invalid parameters for corruption 'robarena_corruptkit/pepper'"):
        plan_of(suite(corruptions=[{"id": "pepper", "params": {"rate": 0.5}}]), kit)
    with pytest.raises(UsageError, match="appear twice"):
        plan_of(suite(corruptions=[{"id": "dim", "severity": [1, 2]}, {"id": "dim", "severity": 2}]), kit)


def test_the_baseline_is_matched_within_each_seed(kit):
    plan = plan_of(suite(seeds=[0, 1]), kit)
    for cell in plan.corruption_cells:
        assert cell.baseline == f"digits/tiny-linear/erm/seed{cell.train.seed}"


# --------------------------------------------------------------------------- stage

def test_corruption_seeds_depend_on_every_part():
    from bench.runner.stages.corruption import corruption_seed

    base = corruption_seed(0, "a/b", 3, 0)
    assert base == corruption_seed(0, "a/b", 3, 0) and 0 <= base < 2**63
    assert len({base, corruption_seed(1, "a/b", 3, 0), corruption_seed(0, "a/c", 3, 0),
                corruption_seed(0, "a/b", 4, 0), corruption_seed(0, "a/b", 3, 1)}) == 5


def test_run_scores_cells_caches_them_and_fills_the_rows(tmp_path, kit):
    import numpy as np

    from bench.runner.results import cell_arrays
    from bench.runner.stored import StoredRun

    data = suite(corruptions=[{"id": "identity", "severity": [1, 5]}, {"id": "dim", "severity": 5},
                              {"id": "pepper", "severity": 4}])
    result = bench.run(data, workdir=tmp_path / "wd", plugins=kit, progress=False)
    assert not result.failures
    rows = {r.defense: r for r in result.rows}
    for row in rows.values():
        by = {(c.label, c.severity): c for c in row.corruptions}
        assert set(by) == {("identity", 1), ("identity", 5), ("dim", 5), ("pepper", 4)}
        # identity: every example's prediction is the clean one, so the accuracy is the clean accuracy
        assert by[("identity", 1)].accuracy == by[("identity", 5)].accuracy == row.clean
        assert by[("dim", 5)].accuracy.n == N and by[("dim", 5)].family == "weather"
        # the mean pools the cells: total correct over total trials, interval of value x n in n
        mean = row.corruption_summary.mean
        pooled = sum(c.accuracy.correct for c in by.values())
        assert (mean.total_correct, mean.total_trials, mean.n) == (pooled, 4 * N, N)
        assert mean.value == pytest.approx(np.mean([c.accuracy.value for c in by.values()]), abs=1e-12)
        assert (mean.low, mean.high) == pytest.approx(fractional_clopper_pearson(mean.value * N, N), abs=1e-12)
        assert row.corruption_summary.baseline == "digits/tiny-linear/erm/seed0"
    # the baseline row's (relative) mCE against itself is 1 wherever defined
    assert rows["erm"].corruption_summary.mce == pytest.approx(1.0)
    # per-example correctness stored; the identity cell's equals the clean cell's
    run = StoredRun.open(tmp_path / "wd", "corr")
    row = run.row("digits/tiny-linear/erm/seed0")
    cache = bench.store.cache.ArtifactCache(tmp_path / "wd" / "cache")
    clean = cell_arrays(cache, run.stage_records(row, "clean")[0])["clean_correct"]
    recs = {r["meta"]["column"]: r for r in run.stage_records(row, "corruption")}
    arrays = cell_arrays(cache, recs["identity s1"])
    assert arrays["correct"].dtype == np.uint8 and np.array_equal(arrays["correct"], clean)
    assert arrays["predictions"].shape == (N,)
    assert run.rows == result.rows  # the stored run assembles the same rows (mCE included)
    # a second run computes nothing
    again = bench.run(data, workdir=tmp_path / "wd", plugins=kit, progress=False)
    assert again.computed == 0 and again.rows == result.rows


def test_corrupted_images_are_fixed_by_the_seed_and_batched_by_eval_batch(tmp_path, kit):
    from bench.registry import get_registry
    from bench.runner.context import RunContext
    from bench.runner.stages.corruption import corrupted_subset

    plan = plan_of(suite(corruptions=[{"id": "pepper", "severity": 5}], corruption_baseline=None, seeds=[0, 1]), kit)
    cells = [c for c in plan.corruption_cells if c.train.defense.label == "erm"]
    ctx = RunContext(registry=get_registry(kit), workdir=tmp_path, device=torch.device("cpu"), progress=False,
                     eval_n=N, eval_batch=16)
    try:
        a, b = corrupted_subset(ctx, cells[0]), corrupted_subset(ctx, cells[0])
        other_seed = corrupted_subset(ctx, cells[1])
        ctx.batch_limit = 4  # an out-of-memory retry's smaller forward batches do not change the images
        c = corrupted_subset(ctx, cells[0])
    finally:
        ctx.close()
    assert torch.equal(a, b) and torch.equal(a, c) and not torch.equal(a, other_seed)
    assert a.shape == (N, 1, 8, 8) and float(a.min()) >= 0 and float(a.max()) <= 1
    zeroed = float((a == 0).float().mean())  # rate 0.1 x severity 5 = half the pixels zeroed (plus black ones)
    assert 0.45 < zeroed < 0.9


def test_the_base_class_checks_severity_generator_and_output():
    from bench.api import Corruption
    from bench.errors import RobarenaError

    class Wide(Corruption):
        def run(self, x, severity, generator):
            return x * 3

    class Short(Corruption):
        def run(self, x, severity, generator):
            return x[:1]

    x, g = torch.full((2, 1, 4, 4), 0.5), torch.Generator()
    for bad in (0, 6, 2.0, True):
        with pytest.raises(UsageError, match="severity must be an int in 1..5"):
            Wide()(x, bad, g)
    with pytest.raises(UsageError, match="generator must be a torch.Generator"):
        Wide()(x, 1, 0)
    with pytest.raises(RobarenaError, match="left the box"):
        Wide()(x, 1, g)
    with pytest.raises(RobarenaError, match="expected shape"):
        Short()(x, 1, g)


# --------------------------------------------------------------------------- rows: mean and mCE by hand

def corr(label, severity, correct, n=10, family="noise"):
    return {"corruption_id": f"k/{label}", "label": label, "family": family, "severity": severity,
            "accuracy": Accuracy.of(correct, n).model_dump()}


def hand_row(defense, clean, cells, baseline="digits/small-cnn/base/seed0"):
    data = hand.row((defense, "k/erm", {}), clean=(clean, 10))
    results = [corr(*c) for c in cells]
    accs = [Accuracy.of(c[2], 10) for c in cells]
    summary = CorruptionSummary(mean=mean_accuracy(sum(a.correct for a in accs), 10 * len(accs), 10),
                                corruptions=list(dict.fromkeys(c[0] for c in cells)),
                                severities=sorted({c[1] for c in cells}), baseline=baseline)
    return validate_row({**data, "corruptions": results, "corruption_summary": summary.model_dump()})


def test_mce_and_relative_mce_against_hand_computed_values():
    # errors: base a: s1 0.2, s2 0.4 (sum 0.6); b: s1 0.5, s2 0.5 (sum 1.0); base clean error 0.1
    base = hand_row("base", 9, [("a", 1, 8), ("a", 2, 6), ("b", 1, 5), ("b", 2, 5)])
    # model: a: 0.1 + 0.2 = 0.3; b: 0.3 + 0.5 = 0.8; clean error 0.0
    model = hand_row("model", 10, [("a", 1, 9), ("a", 2, 8), ("b", 1, 7), ("b", 2, 5)])
    value, relative = mce(model, base)
    assert value == pytest.approx((0.3 / 0.6 + 0.8 / 1.0) / 2)  # 0.65
    # relative: a: (0.3 - 2 x 0) / (0.6 - 2 x 0.1) = 0.75; b: 0.8 / (1.0 - 0.2) = 1.0
    assert relative == pytest.approx((0.75 + 1.0) / 2)
    assert mce(base, base) == pytest.approx((1.0, 1.0))
    rows = {r.defense: r for r in with_mce([base, model])}
    assert rows["model"].corruption_summary.mce == pytest.approx(0.65)
    assert rows["model"].corruption_summary.relative_mce == pytest.approx(0.875)
    assert rows["model"].metric_columns()["corruption[relative mCE]"] == pytest.approx(0.875)
    assert rows["model"].corruption("k/a", 2).accuracy.correct == 8  # selection by id and severity
    with pytest.raises(LookupError):
        rows["model"].corruption("k/a", 3)


def test_mce_is_undefined_for_a_baseline_without_errors_or_a_missing_corruption():
    perfect = hand_row("base", 10, [("a", 1, 10)])
    model = hand_row("model", 9, [("a", 1, 8)])
    assert mce(model, perfect) == (None, None)  # sum of baseline errors is 0
    other = hand_row("base", 9, [("b", 1, 8)])
    assert mce(model, other) == (None, None)
    same_error = hand_row("base", 8, [("a", 1, 8)])  # corrupted error = clean error: relative undefined
    value, relative = mce(model, same_error)
    assert value == pytest.approx(1.0) and relative is None


def test_fractional_clopper_pearson_is_the_exact_interval_at_integer_counts():
    for k, n in ((0, 10), (3, 10), (10, 10), (244, 500)):
        exact = Accuracy.of(k, n)
        assert fractional_clopper_pearson(k, n) == pytest.approx((exact.low, exact.high), abs=1e-12)
    low, high = fractional_clopper_pearson(3.5, 10)  # between the neighbours' intervals
    three, four = Accuracy.of(3, 10), Accuracy.of(4, 10)
    assert three.low < low < four.low and three.high < high < four.high


def test_row_invariants_refuse_an_inconsistent_corruption_summary():
    row = hand_row("model", 9, [("a", 1, 8), ("a", 2, 6)])
    s = row.corruption_summary
    wrong = [s.model_copy(update={"mean": mean_accuracy(15, 20, 10)}),  # counts not the cells' 14/20
             s.model_copy(update={"mean": s.mean.model_copy(update={"low": 0.0})}),  # not the stated interval
             s.model_copy(update={"corruptions": ["b"]}),
             s.model_copy(update={"baseline": None, "mce": 0.5})]
    for summary in wrong:
        assert row_invariant_problems(row.model_copy(update={"corruption_summary": summary}))
    assert row_invariant_problems(row) == []


def test_frame_columns_describe_the_corruption_results():
    base = hand_row("base", 9, [("a", 1, 8), ("a", 2, 6)])
    model = hand_row("model", 10, [("a", 1, 9), ("a", 2, 8)])
    frame = to_frame(with_mce([base, model]))
    names = [c for c in frame.columns if c.startswith("corruption[")]
    assert names == ["corruption[mean]", "corruption[mCE]", "corruption[relative mCE]", "corruption[a s1]",
                     "corruption[a s2]"]
    assert find_columns(frame, "corruption", severity=2) == ["corruption[a s2]"]
    assert find_columns(frame, "corruption", measure="relative mCE") == ["corruption[relative mCE]"]
    assert is_accuracy("corruption[mean]") and is_accuracy("corruption[a s1]") and not is_accuracy("corruption[mCE]")
    model_id = "digits/small-cnn/model/seed0"
    assert frame.attrs["counts"][model_id]["corruption[a s1]"] == (9, 10)
    assert frame.set_index("row_id").loc[model_id, "corruption[mean]"] == pytest.approx(17 / 20)
    assert frame.set_index("row_id").loc[model_id, "corruption[mCE]"] == pytest.approx(0.3 / 0.6)


def test_tables_show_the_mean_with_its_interval_and_the_mce():
    from bench.cli.tables import TableOptions, render_text, rows_view
    from bench.leaderboard.render import format_accuracy, to_csv

    base = hand_row("base", 9, [("a", 1, 8), ("a", 2, 6)])
    model = hand_row("model", 10, [("a", 1, 9), ("a", 2, 8)])
    rows = with_mce([base, model])
    text = render_text(rows_view(rows, TableOptions(width=200)), 200)
    assert format_accuracy(rows[1].corruption_summary.mean) in text and "0.5" in text  # mCE of the model
    csv = to_csv(rows).splitlines()
    header = csv[0].split(",")
    assert "corruption[mean].low" in header and "corruption[a s1].correct" in header


# --------------------------------------------------------------------------- eval CLI

def test_eval_cli_parses_corruptions(kit):
    from bench.cli.eval_cmd import parse_corruption
    from bench.registry import get_registry

    assert parse_corruption("k/pepper:1,3") == [{"id": "k/pepper", "severity": [1, 3]}]
    assert parse_corruption("k/dim") == [{"id": "k/dim"}]
    assert parse_corruption("all:2", get_registry(kit)) == [{"id": "robarena_corruptkit/*", "severity": [2]}]
    with pytest.raises(UsageError, match="severities must be integers"):
        parse_corruption("k/dim:high")


def test_eval_cli_adds_corruption_cells(tmp_path, kit):
    from safetensors.torch import save_file

    from bench.cli.main import main
    from bench.runner.results import load_rows
    from bench.testing.tiny import TinyLinear

    torch.manual_seed(0)
    save_file(TinyLinear((1, 8, 8), 10).state_dict(), str(tmp_path / "lin.safetensors"))
    code = main([*[a for p in kit for a in ("-p", p)], "eval", "--arch", "tiny-linear", "--checkpoint",
                 str(tmp_path / "lin.safetensors"), "--dataset", "core/digits", "--corruption", "identity:2",
                 "--corruption", "dim:5", "--n", "30", "--workdir", str(tmp_path / "wd"), "--no-progress"])
    assert code == 0
    (row,) = load_rows(tmp_path / "wd", "eval")
    assert [(c.label, c.severity) for c in row.corruptions] == [("identity", 2), ("dim", 5)]
    assert row.corruptions[0].accuracy == row.clean
    assert row.corruption_summary.baseline is None and "corruption[mCE]" not in row.metric_columns()
