"""The ce-vs-margin-loss-gap indicator (bench.runner.flags.loss_gap_flags) on synthetic records,
and the attack parameters it reads being stored with every attack cell."""
import pytest
from runner_helpers import tiny_suite

import bench
from bench.runner import flags as F


def attack(name, robust, loss=None, eps=0.1, substitute=None, needs_gradients=True, status="ok"):
    threat = f"Linf {eps:g}"
    meta = {"attack": name, "column": f"{name} {threat}", "threat": threat, "threat_norm": "Linf",
            "threat_eps": eps, "needs_gradients": needs_gradients,
            "attack_params": {"steps": 10} | ({"loss": loss} if loss else {})}
    if substitute:
        meta["substitute"] = substitute
    return {"stage": "attack", "status": status, "meta": meta,
            "payload": {"robust_accuracy": robust} if status == "ok" else {}}


def test_defaults_pinned():
    assert F.LOSS_GAP_TOL == 0.1 and "ce" in F.CE_LOSSES and {"cw", "dlr"} <= F.MARGIN_LOSSES


@pytest.mark.parametrize("ce, cw, fires", [(0.768, 0.472, True),  # defensive distillation in p3-cpu
                                           (0.50, 0.45, False), (0.50, 0.40, False), (0.501, 0.40, True),
                                           (0.40, 0.60, False)])
def test_ce_far_above_margin_loss_is_flagged(ce, cw, fires):
    recs = [attack("pgd", ce, loss="ce"), attack("pgd-cw", cw, loss="cw")]
    assert F.loss_gap_flags(recs) == (["ce-vs-margin-loss-gap:Linf 0.1"] if fires else [])


def test_best_of_each_loss_is_compared_per_threat_model():
    recs = [attack("pgd", 0.70, loss="ce"), attack("pgd-strong", 0.45, loss="ce"), attack("pgd-cw", 0.40, loss="cw"),
            attack("pgd", 0.90, loss="ce", eps=0.05), attack("apgd-dlr", 0.60, loss="dlr", eps=0.05)]
    assert F.loss_gap_flags(recs) == ["ce-vs-margin-loss-gap:Linf 0.05"]


def test_unknown_losses_transfer_gradient_free_and_failed_cells_are_ignored():
    recs = [attack("pgd", 0.9, loss="ce"), attack("fgsm", 0.1),  # no loss parameter
            attack("pgd-cw", 0.1, loss="cw", substitute="a substitute"),
            attack("square", 0.1, loss="margin", needs_gradients=False),
            attack("pgd-cw2", None, loss="cw", status="error")]
    assert F.loss_gap_flags(recs) == []
    assert F.row_flags(recs + [attack("pgd-cw3", 0.5, loss="cw")], []) == ["ce-vs-margin-loss-gap:Linf 0.1"]


def test_attack_cells_store_their_parameters(tmp_path, testkit):
    from scale_helpers import store_cells

    res = bench.run(tiny_suite(probes=[]), workdir=tmp_path, plugins=testkit, device="cpu")
    assert res.ok
    params = [c["meta"]["attack_params"] for c in store_cells(tmp_path).values() if c["stage"] == "attack"]
    assert params == [{"steps": 3}]


def test_records_stored_before_attack_params_get_them_on_the_next_run(tmp_path, testkit):
    import json
    import sqlite3

    from scale_helpers import store_cells

    bench.run(tiny_suite(probes=[]), workdir=tmp_path, plugins=testkit, device="cpu")
    conn = sqlite3.connect(str(tmp_path / "results.sqlite"))
    with conn:
        for key, meta in conn.execute("SELECT key, meta FROM cells WHERE stage = 'attack'").fetchall():
            meta = json.loads(meta)
            del meta["attack_params"]
            conn.execute("UPDATE cells SET meta = ? WHERE key = ?", (json.dumps(meta), key))
        conn.execute("ALTER TABLE cells DROP COLUMN checksum")  # such stores had no checksums: sealed when opened
    conn.close()
    again = bench.run(tiny_suite(probes=[]), workdir=tmp_path, plugins=testkit, device="cpu")
    assert again.ok and again.computed == 0
    params = [c["meta"].get("attack_params") for c in store_cells(tmp_path).values() if c["stage"] == "attack"]
    assert params == [{"steps": 3}]
