"""Cross-cell attack-failure indicators on synthetic attack records (bench.runner.flags).

Every case is built so the expected flags follow from the definitions: unbounded attacks
must reach ~0 % (<= 1 %), transfer and gradient-free attacks must not beat every white-box
gradient attack at the same threat model, robust accuracy must not rise with eps.
"""
import numpy as np
import pytest

from bench.runner import flags as F
from bench.runner.results import assemble_row

T = "2026-01-01T00:00:00Z"


def attack(name, robust, norm="Linf", eps=0.1, targeted=False, substitute=None, needs_gradients=True,
           status="ok"):
    threat = "unbounded" if norm == "unbounded" else f"{norm} {eps:g}"
    threat += " targeted" if targeted else ""
    meta = {"attack": name, "column": f"{name} {threat}", "threat": threat, "threat_norm": norm,
            "threat_eps": float("inf") if norm == "unbounded" else eps, "threat_targeted": targeted}
    if needs_gradients is not None:
        meta["needs_gradients"] = needs_gradients
    if substitute:
        meta["substitute"] = substitute
    return {"stage": "attack", "status": status, "meta": meta,
            "payload": {"robust_accuracy": robust} if status == "ok" else {}}


def probe(flags, status="ok", name="integrity"):
    return {"stage": "probe", "status": status, "meta": {"probe": name},
            "payload": {"scalars": {}, "flags": flags} if status == "ok" else {}}


SUB = "classics/small-cnn trained by classics/standard"


# --------------------------------------------------------------------------- unbounded
@pytest.mark.parametrize("robust, fires", [(0.0, False), (0.01, False), (0.012, True), (0.4, True)])
def test_unbounded_attack_must_reach_about_zero(robust, fires):
    recs = [attack("pgd-unbounded", robust, norm="unbounded")]
    assert F.unbounded_flags(recs) == (["unbounded-attack-failed:pgd-unbounded unbounded"] if fires else [])


def test_unbounded_check_ignores_bounded_and_failed_cells():
    recs = [attack("pgd", 0.5), attack("pgd-unbounded", None, norm="unbounded", status="error")]
    assert F.unbounded_flags(recs) == []


def test_targeted_unbounded_attack_is_checked_too():
    recs = [attack("pgd-unbounded", 0.3, norm="unbounded", targeted=True)]
    assert F.unbounded_flags(recs) == ["unbounded-attack-failed:pgd-unbounded unbounded targeted"]


# --------------------------------------------------------------------------- weaker attacks beating white-box
def test_transfer_attack_beating_every_white_box_attack_is_flagged():
    recs = [attack("pgd", 0.40), attack("fgsm", 0.50), attack("pgd-b", 0.35, substitute=SUB)]
    assert F.weaker_attack_flags(recs) == ["transfer-beats-white-box:pgd-b Linf 0.1"]


def test_transfer_attack_beating_only_some_white_box_attacks_is_not_flagged():
    recs = [attack("pgd", 0.40), attack("fgsm", 0.50), attack("fgsm-b", 0.45, substitute=SUB)]
    assert F.weaker_attack_flags(recs) == []


def test_equal_accuracy_is_not_beating():
    recs = [attack("pgd", 0.40), attack("square", 0.40, needs_gradients=False)]
    assert F.weaker_attack_flags(recs) == []


def test_gradient_free_attack_beating_white_box_is_flagged():
    recs = [attack("pgd", 0.40), attack("square", 0.398, needs_gradients=False)]
    assert F.weaker_attack_flags(recs) == ["gradient-free-beats-white-box:square Linf 0.1"]


def test_comparisons_stay_within_one_threat_model():
    # the transfer attack at eps 0.2 is lower than white-box PGD at eps 0.1, but there is no
    # white-box attack at 0.2; a targeted threat model is a different threat model too
    recs = [attack("pgd", 0.40, eps=0.1), attack("pgd-b", 0.10, eps=0.2, substitute=SUB),
            attack("pgd", 0.9, eps=0.1, targeted=True), attack("square", 0.30, needs_gradients=False, targeted=True)]
    assert F.weaker_attack_flags(recs) == ["gradient-free-beats-white-box:square Linf 0.1 targeted"]


def test_records_without_needs_gradients_count_as_white_box():
    assert F.attack_kind({"needs_gradients": False}) == "gradient-free"
    assert F.attack_kind({}) == "white-box"
    assert F.attack_kind({"substitute": SUB, "needs_gradients": True}) == "transfer"
    recs = [attack("pgd", 0.40), attack("old", 0.30, needs_gradients=None)]
    assert F.weaker_attack_flags(recs) == []


def test_failed_white_box_cells_are_not_a_baseline():
    recs = [attack("pgd", None, status="error"), attack("pgd-b", 0.10, substitute=SUB)]
    assert F.weaker_attack_flags(recs) == []


# --------------------------------------------------------------------------- eps monotonicity
def test_robust_accuracy_rising_with_eps_is_flagged_per_attack_and_norm():
    recs = [attack("pgd", 0.6, eps=0.05), attack("pgd", 0.4, eps=0.1), attack("pgd", 0.45, eps=0.2),
            attack("fgsm", 0.7, eps=0.05), attack("fgsm", 0.5, eps=0.1)]
    assert F.monotonicity_flags(recs) == ["non-monotone-eps:pgd Linf"]


def test_targeted_and_untargeted_eps_curves_are_separate():
    recs = [attack("pgd", 0.4, eps=0.1), attack("pgd", 0.9, eps=0.2, targeted=True)]
    assert F.monotonicity_flags(recs) == []


# --------------------------------------------------------------------------- a whole row
def test_a_healthy_row_raises_no_flag():
    attacks = [attack("pgd", 0.60, eps=0.05), attack("pgd", 0.40, eps=0.1), attack("fgsm", 0.45, eps=0.1),
               attack("pgd-b", 0.55, eps=0.1, substitute=SUB), attack("square", 0.52, needs_gradients=False),
               attack("pgd-unbounded", 0.0, norm="unbounded")]
    assert F.row_flags(attacks, [probe([])]) == []


def test_row_flags_collect_every_indicator_and_the_probes_flags_once():
    attacks = [attack("pgd", 0.3, eps=0.05), attack("pgd", 0.4, eps=0.1),
               attack("pgd-b", 0.2, eps=0.1, substitute=SUB), attack("pgd-unbounded", 0.5, norm="unbounded")]
    probes = [probe(["zero-gradients", "randomized-output"]), probe(["zero-gradients"], name="other"),
              probe(None, status="error")]
    assert F.row_flags(attacks, probes) == [
        "non-monotone-eps:pgd Linf", "unbounded-attack-failed:pgd-unbounded unbounded",
        "transfer-beats-white-box:pgd-b Linf 0.1", "zero-gradients", "randomized-output"]


def test_old_probe_records_without_flags_are_read():
    assert F.probe_flags([{"stage": "probe", "status": "ok", "meta": {}, "payload": {"scalars": {}}}]) == []


def _provenance(record, key):
    record["key"], record["created"], record["cell_id"] = key, T, key
    record["meta"].update(row_id="d/m/def/seed0", core_version="0", fingerprint="f", seed=0, device="cpu",
                          torch="2", platform="p", n=10)
    return record


class ZeroMaskCache:
    """Stands in for the artifact cache: the ensemble column reads per-example robust masks."""

    def get_arrays(self, digest):
        return {"robust_correct": np.zeros(10, dtype=np.uint8)}


def test_assembled_rows_carry_cross_cell_and_probe_flags():
    records = [_provenance(attack("pgd-unbounded", 0.5, norm="unbounded"), "a"),
               _provenance(probe(["tiny-gradients"]), "p")]
    records[0]["payload"]["arrays"] = "digest"
    row = assemble_row(ZeroMaskCache(), records, "s", "1")
    assert row.flags == ["unbounded-attack-failed:pgd-unbounded unbounded", "tiny-gradients"]
