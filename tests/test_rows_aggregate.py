"""Seed aggregates: mean, sample std and n_seeds per configuration, failed cells left out, never imputed."""
import math

import pytest

from bench.rows.aggregate import aggregate_frame, aggregate_rows
from bench.rows.schema import Accuracy, Row

PROV = {"core_version": "0", "plugins": {}, "specs": {}, "config_hash": "c", "data_fingerprint": "d", "seed": 0,
        "n": 100, "device": "cpu", "date": "2026-01-01T00:00:00Z", "torch_version": "t", "platform": "p",
        "suite": "s", "suite_version": "1"}
THREAT = {"norm": "Linf", "eps": 0.1, "eps_display": "0.1", "targeted": False}


def row(defense: str, seed: int, clean: int, pgd, eps: float = 0.1, flags=()) -> Row:
    attack = {"attack_id": "x/pgd", "label": "pgd", "params": {}, "threat": THREAT,
              "accuracy": None if pgd is None else Accuracy.of(pgd, 100).model_dump()}
    return Row.model_validate({
        "row_id": f"d/m/{defense}/seed{seed}", "dataset": "d", "model": "m", "defense": defense, "seed": seed,
        "dataset_id": "core/d", "model_id": "x/m", "defense_id": f"x/{defense.split()[0]}",
        "defense_params": {"eps": eps}, "clean": Accuracy.of(clean, 100).model_dump(), "attacks": [attack],
        "flags": list(flags), "provenance": {**PROV, "seed": seed}})


def test_mean_std_and_n_seeds_against_hand_computation():
    rows = [row("at", 0, 90, 40), row("at", 1, 92, 44), row("at", 2, 94, 48), row("std", 0, 99, 1)]
    at, std = aggregate_rows(rows)
    assert at.group_id == "d/m/at" and at.seeds == (0, 1, 2) and at.n_seeds == 3
    assert at.metrics["clean"].mean == pytest.approx(0.92)
    assert at.metrics["clean"].std == pytest.approx(0.02)  # sample std of .90 .92 .94
    assert at.metrics["robust[pgd Linf 0.1]"].mean == pytest.approx(0.44)
    assert at.metrics["robust[pgd Linf 0.1]"].std == pytest.approx(0.04)
    assert std.n_seeds == 1 and math.isnan(std.metrics["clean"].std)


def test_a_failed_seed_is_left_out_and_counted_never_imputed():
    (agg,) = aggregate_rows([row("at", 0, 90, 40), row("at", 1, 90, None), row("at", 2, 90, 50)])
    assert agg.metrics["robust[pgd Linf 0.1]"].n_seeds == 2
    assert agg.metrics["robust[pgd Linf 0.1]"].mean == pytest.approx(0.45)
    assert agg.missing == {"robust[pgd Linf 0.1]": 1}


def test_configurations_differing_in_parameters_are_not_pooled():
    aggs = aggregate_rows([row("at 0.1", 0, 90, 40, eps=0.1), row("at 0.1", 1, 90, 42, eps=0.1),
                           row("at 0.3", 0, 80, 20, eps=0.3)])
    assert [a.n_seeds for a in aggs] == [2, 1]


def test_repeated_seeds_of_one_configuration_are_an_error():
    with pytest.raises(ValueError, match="repeat seed"):
        aggregate_rows([row("at", 0, 90, 40), row("at", 0, 91, 41).model_copy(update={"row_id": "other"})])


def test_flags_count_the_seeds_they_fired_on_and_the_frame_has_means_and_stds():
    rows = [row("at", 0, 90, 40, flags=("f",)), row("at", 1, 92, 44), row("at", 2, 94, 48, flags=("f",))]
    (agg,) = aggregate_rows(rows)
    assert agg.flags == {"f": 2}
    frame = aggregate_frame(rows)
    assert frame.loc[0, "n_seeds"] == 3 and frame.loc[0, "clean"] == pytest.approx(0.92)
    assert frame.loc[0, "clean.std"] == pytest.approx(0.02)
