"""Executable claims: evaluation over a run's rows, missing data, broken claims, the CLI."""
import json

import pandas as pd
import pytest

import bench
from bench.api.claim import (ClaimDataMissing, ClaimResult, component_params, metric_column, optional_value,
                             robust_column, robust_columns, select, select_where, value, worst_case_column)
from bench.claims import claims_for, evaluate_claims, suite_matches
from bench.cli.main import main
from bench.registry import get_registry

from runner_helpers import tiny_suite


def test_helpers_select_rows_and_average_over_seeds():
    frame = pd.DataFrame({"defense": ["a", "a", "b"], "seed": [0, 1, 0], "clean": [0.5, 0.7, float("nan")],
                          "robust[pgd Linf 0.1]": [0.1, 0.3, 0.2]})
    assert value(frame, "clean", defense="a") == pytest.approx(0.6)
    assert len(select(frame, defense="a")) == 2
    assert optional_value(frame, "clean", defense="a") == pytest.approx(0.6)
    assert optional_value(frame, "clean", defense="c") is None and optional_value(frame, "nope", defense="a") is None
    with pytest.raises(ClaimDataMissing, match="no row with defense='c'"):
        value(frame, "clean", defense="c")
    with pytest.raises(ClaimDataMissing, match="empty"):
        value(frame, "clean", defense="b")
    with pytest.raises(ClaimDataMissing, match="no column"):
        value(frame, "probe[x.y]", defense="a")


def test_columns_and_rows_are_found_by_parameters_whatever_their_labels(tmp_path, testkit):
    from bench.rows.frame import to_frame

    suite = tiny_suite()
    suite["attacks"] = [{"id": "sign", "label": "renamed-sign", "eps": [0.05, "0.1"]},
                        {"id": "sign", "label": "sign-l2", "norm": "L2", "eps": 0.5}]
    res = bench.run(suite, workdir=tmp_path, plugins=testkit, device="cpu")
    frame = to_frame(res.rows)
    assert robust_column(frame, "robarena_testkit/sign", norm="Linf", eps=0.1) == "robust[renamed-sign Linf 0.1]"
    assert robust_column(frame, "robarena_testkit/sign", norm="L2") == "robust[sign-l2 L2 0.5]"
    assert len(robust_columns(frame, "robarena_testkit/sign")) == 3
    assert worst_case_column(frame, norm="Linf", eps=0.05) == "ensemble[Linf 0.05]"
    with pytest.raises(ClaimDataMissing, match="2 robust-accuracy columns match"):
        robust_column(frame, "robarena_testkit/sign", norm="Linf")
    with pytest.raises(ClaimDataMissing, match="0 robust-accuracy columns"):
        robust_column(frame, "robarena_testkit/sign", eps=0.3)
    erm = select_where(frame, defense_id="robarena_testkit/erm")
    assert set(erm["defense_id"]) == {"robarena_testkit/erm"} and len(erm) >= 1
    rid = erm["row_id"].iloc[0]
    (row,) = [r for r in res.rows if r.row_id == rid]
    assert component_params(frame, rid, "defense") == row.defense_params
    assert component_params(frame, rid, "model") == row.model_params
    with pytest.raises(ClaimDataMissing, match="no row"):
        select_where(frame, defense_id="robarena_testkit/nothing")
    with pytest.raises(ClaimDataMissing):
        metric_column(frame, "robarena_testkit/confidence", "no-such-column")


def test_suite_names_match_plain_or_qualified():
    assert suite_matches("guessfirst/p4-cpu", "p4-cpu") and suite_matches("p4-cpu", "p4-cpu")
    assert not suite_matches("guessfirst/p4-full", "p4-cpu")


def test_claims_over_a_real_run(tmp_path, testkit, capsys):
    res = bench.run(tiny_suite(), workdir=tmp_path, plugins=testkit)
    assert res.ok
    registry = get_registry(testkit)
    entries = claims_for(registry, "tiny")
    assert sorted(e.spec.name for e in entries) == ["attack-hurts", "needs-missing", "raises"]
    outcomes = {o.claim.split("/")[-1]: o for o in evaluate_claims(entries, res.to_pandas())}
    hurts = outcomes["attack-hurts"].result
    row = res.rows[0]
    # the numbers behind the claim are the row's own numbers
    assert hurts.numbers == {"clean": row.clean_accuracy, "robust": next(iter(row.robust.values()))}
    assert hurts.holds == (hurts.numbers["robust"] < hurts.numbers["clean"])
    assert outcomes["needs-missing"].result.holds is None
    assert "not-trained" in outcomes["needs-missing"].result.detail
    assert outcomes["raises"].result.holds is None and "ZeroDivisionError" in outcomes["raises"].result.detail

    argv = ["-p", testkit[0], "claims", "tiny", "--workdir", str(tmp_path), "--json"]
    capsys.readouterr()
    assert main(argv) == 0
    printed = {d["claim"].split("/")[-1]: d for d in json.loads(capsys.readouterr().out)}
    assert printed["attack-hurts"]["holds"] == hurts.holds
    assert printed["needs-missing"]["status"] == "not checked"
    assert main(argv[:-1] + ["--strict"]) == 1  # two claims could not be checked
    out = capsys.readouterr().out
    assert "claims hold on 1 rows of suite 'tiny'" in out


def test_claims_cli_errors(tmp_path, testkit, capsys):
    assert main(["-p", testkit[0], "claims", "no-such-suite", "--workdir", str(tmp_path)]) == 2
    assert "no registered claim is about suite 'no-such-suite'" in capsys.readouterr().err
    assert main(["-p", testkit[0], "claims", "tiny", "--workdir", str(tmp_path)]) != 0
    assert "robarena run tiny" in capsys.readouterr().err


def test_a_claim_returning_the_wrong_type_is_reported():
    class Entry:
        qualified_id = "x/y"

        class spec:
            paper = None
            statement = "s"

        @staticmethod
        def load():
            return lambda frame: 1.0

    (outcome,) = evaluate_claims([Entry], pd.DataFrame())
    assert outcome.result.holds is None and "expected ClaimResult" in outcome.result.detail
    assert isinstance(ClaimResult(True).numbers, dict)
