"""eval.reuse_smaller_eps: an eps sweep attacks again only the examples not fooled at a smaller eps.

Known answer: for an attack whose per-example result does not depend on the other examples in
its batch (here the test kit's deterministic sign steps), the sweep with reuse equals the
envelope of independent runs: robust at eps_k iff robust at every swept eps_j <= eps_k.
"""
import sqlite3

import pytest
import torch
from runner_helpers import tiny_suite

import bench
from bench.registry import get_registry
from bench.runner.plan import build_plan
from bench.runner.suite import EvalConfig, resolve_suite
from bench.store.cache import ArtifactCache

EPS = [0.2, 0.05, 0.1, 0.02]  # listed out of order on purpose


def sweep_suite(reuse, attack=None, **eval_kw):
    attack = attack or {"id": "sign", "eps": EPS, "params": {"steps": 3}}
    return tiny_suite(attacks=[attack], probes=[],
                      eval={"n": 60, "batch_size": 32, "reuse_smaller_eps": reuse, **eval_kw}, integrity=False)


def attack_arrays(workdir):
    """cell id -> (arrays, payload) of every attack cell in the work directory."""
    import json

    conn = sqlite3.connect(str(workdir / "results.sqlite"))
    try:
        rows = conn.execute("SELECT payload, cell_id FROM cells WHERE stage = 'attack'").fetchall()
    finally:
        conn.close()
    cache = ArtifactCache(workdir / "cache")
    out = {}
    for payload, cell_id in rows:
        payload = json.loads(payload)
        out[cell_id] = (cache.get_tensors(payload["arrays"]), payload)
    return out


def by_eps(result):
    """eps -> robust accuracy, from the run's single row."""
    (row,) = result.rows
    cells = {c.threat.eps: c.column for c in result.plan.attack_cells}
    return {eps: row.robust[col] for eps, col in cells.items()}


def test_reuse_is_off_by_default():
    assert EvalConfig().reuse_smaller_eps is False


def test_plan_links_each_eps_to_the_next_smaller_one_and_keeps_column_order(kits_registry):
    plan = build_plan(resolve_suite(sweep_suite(True), kits_registry), kits_registry)
    cells = plan.attack_cells
    assert [c.threat.eps for c in cells] == EPS  # the suite's order: the leaderboard's columns
    links = {c.threat.eps: (c.reuse_from.threat.eps if c.reuse_from else None) for c in cells}
    assert links == {0.02: None, 0.05: 0.02, 0.1: 0.05, 0.2: 0.1}
    off = build_plan(resolve_suite(sweep_suite(False), kits_registry), kits_registry)
    assert all(c.reuse_from is None for c in off.attack_cells)


def test_separate_sweeps_are_not_linked(kits_registry):
    suite = tiny_suite(attacks=[{"id": "sign", "label": "a", "eps": [0.05, 0.1]},
                                {"id": "sign", "label": "b", "eps": [0.02]},
                                {"id": "sign", "label": "c", "norm": "L2", "eps": [0.01]}],
                       eval={"n": 60, "batch_size": 32, "reuse_smaller_eps": True})
    plan = build_plan(resolve_suite(suite, kits_registry), kits_registry)
    links = {c.column: (c.reuse_from.column if c.reuse_from else None) for c in plan.attack_cells}
    a05, a10 = (c.column for c in plan.attack_cells if c.attack.label == "a")
    assert links[a10] == a05 and sum(v is not None for v in links.values()) == 1


def test_sweep_with_reuse_equals_the_envelope_of_independent_runs(tmp_path, testkit, monkeypatch):
    import robarena_testkit_impl as impl

    full = bench.run(sweep_suite(False), workdir=tmp_path / "full", plugins=testkit, device="cpu")
    attacked = []
    original = impl.SignStep.run

    def counting(self, model, x, *args, **kwargs):
        attacked.append(x.shape[0])
        return original(self, model, x, *args, **kwargs)

    monkeypatch.setattr(impl.SignStep, "run", counting)
    reuse = bench.run(sweep_suite(True), workdir=tmp_path / "reuse", plugins=testkit, device="cpu")
    assert full.ok and reuse.ok
    full_cells = {c.threat.eps: c for c in full.plan.attack_cells}
    reuse_cells = {c.threat.eps: c for c in reuse.plan.attack_cells}

    stored_full, stored_reuse = attack_arrays(tmp_path / "full"), attack_arrays(tmp_path / "reuse")
    envelope = torch.ones(60, dtype=torch.bool)
    reused_total = 0
    for eps in sorted(EPS):
        envelope &= stored_full[full_cells[eps].cell_id][0]["robust_correct"].bool()
        arrays, payload = stored_reuse[reuse_cells[eps].cell_id]
        assert torch.equal(arrays["robust_correct"].bool(), envelope), eps
        if reuse_cells[eps].reuse_from is not None:
            reused_total += payload["reused_smaller_eps"]
    assert sum(attacked) == 4 * 60 - reused_total > 0  # reused examples were not attacked again
    assert reused_total > 0
    acc = by_eps(reuse)
    assert [acc[e] for e in sorted(EPS)] == sorted(acc.values(), reverse=True)  # monotone in eps


def test_reused_examples_lie_in_the_larger_ball_with_random_starts(tmp_path, testkit):
    """classics/pgd draws random starts, so its per-example result depends on the batch: the sweep is
    not bit-identical to independent runs, but keeps its guarantees."""
    attack = {"id": "classics/pgd", "eps": [0.05, 0.1, 0.2], "params": {"steps": 5, "restarts": 2}}
    res = bench.run(sweep_suite(True, attack=attack), workdir=tmp_path, plugins=(*testkit, "classics"),
                    device="cpu")
    assert res.ok
    from bench.data.digits import Digits

    x = Digits(Digits.Config(n_train=300, n_test=60))().x_test[:60]
    cells = sorted(res.plan.attack_cells, key=lambda c: c.threat.eps)
    stored = attack_arrays(tmp_path)
    previous = torch.ones(60, dtype=torch.bool)
    for cell in cells:
        arrays, payload = stored[cell.cell_id]
        robust = arrays["robust_correct"].bool()
        assert not (robust & ~previous).any()  # fooled at a smaller eps stays fooled
        assert float((arrays["x_adv"] - x).abs().amax()) <= cell.threat.eps + 1e-6
        previous = robust
    assert sum(stored[c.cell_id][1].get("reused_smaller_eps", 0) for c in cells) > 0


def test_a_failed_smaller_eps_fails_the_larger_with_the_reason(tmp_path, testkit, monkeypatch):
    import robarena_testkit_impl as impl

    original = impl.SignStep.run

    def fails_at_small_eps(self, model, x, y, threat, *args, **kwargs):
        if threat.eps < 0.03:
            raise RuntimeError("broken at 0.02")
        return original(self, model, x, y, threat, *args, **kwargs)

    monkeypatch.setattr(impl.SignStep, "run", fails_at_small_eps)
    res = bench.run(sweep_suite(True), workdir=tmp_path, plugins=testkit, device="cpu")
    errors = {f.cell_id: f.error for f in res.failures}
    assert len(errors) == 4 and all("broken at 0.02" in e for e in errors.values())


@pytest.fixture
def kits_registry(testkit):
    return get_registry(testkit)
