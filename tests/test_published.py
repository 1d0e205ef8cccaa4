"""Published values beside measured ones: RobustBench model-info JSON (bench.published), a
``[[pretrained]]`` entry's ``model_info`` and inline ``published``, Row.published, the frame's
``published[...]`` columns, the renderings and the model-info export (round trip through the importer)."""
import json

import pytest
import torch

import bench
from bench.errors import ConfigError, LeaderboardError, UsageError
from bench.published import (LEADERBOARD_EPS, ModelInfo, PublishedValue, load_model_info, merge_published,
                             read_model_info)

CARMON = {"link": "https://arxiv.org/abs/1905.13736", "name": "Unlabeled Data Improves Adversarial Robustness",
          "additional_data": True, "number_forward_passes": 1, "dataset": "cifar10", "venue": "NeurIPS 2019",
          "architecture": "WideResNet-28-10", "eps": "8/255", "clean_acc": "89.69", "reported": "62.5",
          "autoattack_acc": "59.53"}


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


# --------------------------------------------------------------------------- the format

def test_leaderboard_radii_are_robustbenchs():
    # RobustBench's leaderboards (Croce et al. 2021): CIFAR-10 Linf 8/255 and L2 0.5, CIFAR-100 Linf 8/255,
    # ImageNet Linf 4/255
    assert LEADERBOARD_EPS == {("cifar10", "Linf"): "8/255", ("cifar10", "L2"): "0.5", ("cifar100", "Linf"): "8/255",
                               ("imagenet", "Linf"): "4/255"}


def test_model_info_file_in_robustbenchs_layout(tmp_path):
    path = _write(tmp_path / "model_info" / "cifar10" / "Linf" / "Carmon2019Unlabeled.json", CARMON)
    clean, robust = load_model_info(path)
    assert (clean.metric, clean.value, clean.norm, clean.eps) == ("clean", 0.8969, None, None)
    assert (robust.metric, robust.norm, robust.eps_display) == ("robust", "Linf", "8/255")
    assert robust.eps == pytest.approx(8 / 255) and robust.value == pytest.approx(0.5953)
    assert robust.evaluation == "AutoAttack (standard)"
    assert "Unlabeled Data Improves" in robust.source and "Carmon2019Unlabeled.json" in robust.source


def test_training_eps_of_the_file_is_not_the_evaluated_radius(tmp_path):
    # Zhang2019Theoretically's file says eps "0.031"; RobustBench evaluates cifar10 Linf at 8/255
    zhang = {**CARMON, "name": "TRADES", "eps": "0.031", "clean_acc": "84.92", "autoattack_acc": "53.08"}
    _, robust = load_model_info(_write(tmp_path / "Linf" / "Zhang.json", zhang))
    assert robust.eps_display == "8/255"
    # an unknown dataset keeps the file's radius; numbers (not strings) and '%' are read as percent
    other = {"name": "x", "dataset": "mnist", "eps": 0.3, "clean_acc": 99.1, "autoattack_acc": "92.5 %"}
    clean, robust = load_model_info(_write(tmp_path / "Linf" / "mnist.json", other))
    assert (clean.value, robust.value, robust.eps) == (pytest.approx(0.991), pytest.approx(0.925), 0.3)


def test_reported_value_when_no_autoattack_and_norm_from_a_field(tmp_path):
    data = {"name": "y", "clean_acc": "80", "reported": "50", "threat_model": "L2"}
    _, robust = load_model_info(_write(tmp_path / "y.json", data))
    assert (robust.norm, robust.eps_display, robust.value) == ("L2", "0.5", 0.5)
    assert robust.evaluation == "reported by the authors"
    (clean,) = load_model_info(_write(tmp_path / "z.json", {"name": "z", "clean_acc": "80"}))  # no robust value
    assert clean.value == 0.8


@pytest.mark.parametrize("content, wanted", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "holds a JSON list"),
    (json.dumps({"name": "x"}), "'clean_acc' is missing"),
    (json.dumps({"name": "x", "clean_acc": "abc"}), "field 'clean_acc': accuracy 'abc' is not a number"),
    (json.dumps({"name": "x", "clean_acc": "101"}), "field 'clean_acc': accuracy '101' is not a percentage"),
    (json.dumps({"name": "x", "clean_acc": "90", "autoattack_acc": True}), "field 'autoattack_acc'"),
])
def test_bad_model_info_files_name_the_file_and_the_field(tmp_path, content, wanted):
    path = _write(tmp_path / "Linf" / "bad.json", content)
    with pytest.raises(ConfigError, match="bad.json") as info:
        load_model_info(path)
    assert wanted in str(info.value)


def test_model_info_without_a_threat_or_file(tmp_path):
    path = _write(tmp_path / "flat" / "entry.json", {"name": "x", "clean_acc": "90", "autoattack_acc": "40"})
    with pytest.raises(ConfigError, match="cannot tell the threat model.*directory named Linf or L2"):
        load_model_info(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_model_info(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="is a directory"):
        read_model_info(str(tmp_path))


def test_inline_values_and_their_errors():
    v = PublishedValue(metric="robust", norm="linf", eps="8/255", value=0.5953, source="paper")
    assert (v.norm, v.eps_display) == ("Linf", "8/255") and v.eps == pytest.approx(8 / 255)
    with pytest.raises(ValueError, match=r"fraction in \[0, 1\] \(59.53 % is 0.5953\)"):
        PublishedValue(metric="clean", value=59.53, source="paper")
    with pytest.raises(ValueError, match="needs its threat"):
        PublishedValue(metric="robust", value=0.5, source="paper")
    with pytest.raises(ValueError, match="no threat"):
        PublishedValue(metric="clean", norm="Linf", eps=0.1, value=0.5, source="paper")
    with pytest.raises(ValueError, match="eps"):
        PublishedValue(metric="robust", norm="Linf", eps="8/25x", value=0.5, source="paper")


def test_later_values_replace_earlier_ones_of_the_same_metric_and_threat():
    a = PublishedValue(metric="robust", norm="Linf", eps="8/255", value=0.5, source="zoo")
    b = PublishedValue(metric="robust", norm="Linf", eps=8 / 255, value=0.6, source="inline")
    c = PublishedValue(metric="robust", norm="L2", eps=0.5, value=0.7, source="inline")
    assert merge_published([a], [b, c]) == (b, c)


def test_model_info_keeps_unknown_fields():
    info = ModelInfo(**{**CARMON, "unreliable": False})
    assert info.model_dump(exclude_none=True)["unreliable"] is False


# --------------------------------------------------------------------------- end to end

N = 20


@pytest.fixture
def linear_checkpoint(tmp_path):
    from bench.testing.tiny import TinyLinear

    torch.manual_seed(0)
    path = tmp_path / "lin.pt"
    torch.save(TinyLinear((1, 8, 8), 10).state_dict(), path)
    return path


def _suite(ckpt, **pretrained):
    return {"name": "pub", "pretrained": [{"label": "lin", "arch": "tiny-linear", "checkpoint": str(ckpt),
                                           "dataset": "core/digits", **pretrained}],
            "attacks": [{"id": "sign", "norm": "Linf", "eps": 0.1}], "eval": {"n": N}, "integrity": False}


@pytest.fixture
def published_run(tmp_path, linear_checkpoint, testkit):
    info = _write(tmp_path / "mi" / "Linf" / "lin.json",
                  {"name": "Linear", "dataset": "digits", "eps": "0.1", "clean_acc": "42.00", "autoattack_acc": "100"})
    inline = [{"metric": "clean", "value": 0.05, "source": "inline clean"}]  # replaces the file's clean value
    res = bench.run(_suite(linear_checkpoint, model_info=str(info), published=inline), workdir=tmp_path / "wd",
                    plugins=testkit)
    assert res.ok, res.failures
    return res


def test_row_frame_and_columns_carry_the_published_values(published_run):
    from bench.rows.frame import find_columns, to_frame

    (row,) = published_run.rows
    by_metric = {p.metric: p for p in row.published}
    assert by_metric["clean"].value == 0.05 and by_metric["clean"].source == "inline clean"
    robust = by_metric["robust"]
    assert (robust.value, robust.threat.norm, robust.threat.eps, robust.threat.eps_display) == (1.0, "Linf", 0.1, "0.1")
    assert "lin.json" in robust.source
    frame = to_frame([row])
    columns = list(frame.columns)
    # each published column right after the measured one it is compared with
    assert columns[columns.index("clean") + 1] == "published[clean]"
    assert columns[columns.index("ensemble[Linf 0.1]") + 1] == "published[robust Linf 0.1]"
    assert frame["published[robust Linf 0.1]"].iloc[0] == 1.0
    assert find_columns(frame, "published", metric="robust", norm="Linf", eps=0.1) == ["published[robust Linf 0.1]"]
    assert find_columns(frame, "published", metric="clean") == ["published[clean]"]
    (info,) = [i for i in frame.attrs["columns"] if i["column"] == "published[robust Linf 0.1]"]
    assert info["kind"] == "published" and "lin.json" in info["source"] and info["partner"] == "ensemble[Linf 0.1]"


def test_renderings_show_the_value_its_source_and_the_interval_check(published_run):
    from bench.cli.tables import TableOptions, render_text, rows_view
    from bench.leaderboard.html import render_table
    from bench.leaderboard.render import published_inside, to_csv, to_latex, to_markdown

    (row,) = published_run.rows
    worst = row.worst(norm="Linf", eps=0.1).accuracy
    assert worst.high < 1.0  # a random linear model on digits: 1.0 lies outside the interval
    clean = next(p for p in row.published if p.metric == "clean")
    robust = next(p for p in row.published if p.metric == "robust")
    assert published_inside(row, robust) is False
    assert published_inside(row, clean) is (row.clean.low <= 0.05 <= row.clean.high)
    md = to_markdown([row])
    assert "published[robust Linf 0.1] (%)" in md and "100.00 ✗" in md and "inline clean" in md
    latex = to_latex([row])
    assert "100.00 (out)" in latex and "✗" not in latex and "lin.json" in latex
    csv = to_csv([row]).splitlines()
    header = csv[0].split(",")
    at = header.index("published[robust Linf 0.1]")
    assert header[at + 1:at + 4] == ["published[robust Linf 0.1].inside", "published[robust Linf 0.1].evaluation",
                                     "published[robust Linf 0.1].source"]
    assert csv[1].split(",")[at:at + 2] == ["1.0", "False"]
    html = render_table([row])
    assert 'class="num published"' in html and "outside the measured value" in html and "lin.json" in html
    text = render_text(rows_view([row], TableOptions(width=200)), 200)
    assert "published" in text and "100.00 ✗" in text and "inline clean" in text


def test_published_values_are_labels_not_key_parts(published_run, tmp_path, linear_checkpoint, testkit):
    """Changing a published value recomputes nothing and the row shows the new value."""
    inline = [{"metric": "robust", "norm": "Linf", "eps": 0.1, "value": 0.0, "source": "erratum"}]
    res = bench.run(_suite(linear_checkpoint, published=inline), workdir=tmp_path / "wd", plugins=testkit)
    assert res.ok and res.computed == 0 and res.cached > 0
    (row,) = res.rows
    assert [(p.metric, p.value, p.source) for p in row.published] == [("robust", 0.0, "erratum")]
    from bench.runner.results import load_rows

    (stored,) = load_rows(tmp_path / "wd", "pub")
    assert stored.published == row.published


def test_a_bad_model_info_file_in_a_suite_names_the_entry(tmp_path, linear_checkpoint, testkit):
    bad = _write(tmp_path / "Linf" / "bad.json", {"name": "x", "clean_acc": "ninety"})
    with pytest.raises(ConfigError, match=r"\[\[pretrained\]\] 'lin'.*bad.json.*clean_acc"):
        bench.run(_suite(linear_checkpoint, model_info=str(bad)), workdir=tmp_path / "wd", plugins=testkit)
    with pytest.raises(UsageError, match="published"):
        bench.run(_suite(linear_checkpoint, published=[{"metric": "clean", "value": 89.7, "source": "x"}]),
                  workdir=tmp_path / "wd", plugins=testkit)


def test_model_info_export_round_trips_through_the_importer(published_run, tmp_path, capsys):
    from bench.cli.main import main
    from bench.leaderboard.build import build_snapshot
    from bench.leaderboard.model_info import export_model_info

    (row,) = published_run.rows
    build_snapshot([row], "pub", "v1", root=tmp_path / "lb", site=False)
    out = tmp_path / "export"
    assert main(["leaderboard", "export", "pub", "v1", "--root", str(tmp_path / "lb"), "--format", "model-info",
                 "-o", str(out)]) == 0
    (path,) = sorted(out.rglob("*.json"))
    assert path.relative_to(out).as_posix() == "digits/Linf/lin__pretrained__seed0.json"
    data = json.loads(path.read_text())
    worst = row.worst(norm="Linf", eps=0.1).accuracy
    assert data["clean_acc"] == f"{100 * row.clean.value:.2f}" and data["autoattack_acc"] == f"{100 * worst.value:.2f}"
    assert data["robarena"]["robust"]["correct"] == worst.correct and data["robarena"]["row_id"] == row.row_id
    clean, robust = load_model_info(path)  # the importer reads it back: same numbers, same threat
    assert clean.value == pytest.approx(row.clean.value, abs=5e-5)
    assert robust.value == pytest.approx(worst.value, abs=5e-5)
    assert (robust.norm, robust.eps, robust.eps_display) == ("Linf", 0.1, "0.1")
    assert "sign" in robust.evaluation
    assert main(["leaderboard", "export", "pub", "v1", "--root", str(tmp_path / "lb"), "--format", "model-info"]) == 2
    assert "give -o DIRECTORY" in capsys.readouterr().err
    with pytest.raises(LeaderboardError, match="nothing to write"):
        export_model_info([row.model_copy(update={"worst_case": []})], tmp_path / "none")


def test_partner_is_matched_on_the_typed_threat_not_the_label(published_run):
    from bench.leaderboard.render import published_inside
    from bench.rows.frame import to_frame
    from bench.rows.schema import PublishedResult, Threat

    (row,) = published_run.rows
    other = PublishedResult(metric="robust", threat=Threat(norm="Linf", eps=1 / 10, eps_display="1/10"), value=1.0,
                            source="s")
    row = row.model_copy(update={"published": [other]})
    columns = list(to_frame([row]).columns)
    assert columns[columns.index("ensemble[Linf 0.1]") + 1] == "published[robust Linf 1/10]"
    assert published_inside(row, other) is False  # compared with the worst case at Linf 0.1
    far = other.model_copy(update={"threat": Threat(norm="Linf", eps=0.2, eps_display="0.2")})
    assert published_inside(row.model_copy(update={"published": [far]}), far) is None  # nothing measured there
