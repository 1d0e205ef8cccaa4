"""The `tasks` suite puts the three per-model tasks on the same standard and robust source models."""
import pytest

from bench.registry import get_registry
from bench.runner.plan import build_plan
from bench.runner.suite import resolve_suite


def test_tasks_suite_plans_every_task_on_both_models():
    registry = get_registry()
    suite = resolve_suite("infotransfer/tasks", registry)
    assert [t.id for t in suite.tasks] == ["infotransfer/transfer", "infotransfer/inversion",
                                           "recognizability/recognizability"]
    assert [d.label for d in suite.defenses] == ["standard", "PGD-AT"]
    transfer = suite.tasks[0].params
    assert [t["label"] for t in transfer["targets"]] == ["near", "far"]  # a near and a far target
    plan = build_plan(suite, registry)
    assert len(plan.train_cells) == 2 and len(plan.task_cells) == 6
    assert not [reason for what, reason in plan.dropped if "task" in what]


def test_recognizability_claim_on_synthetic_frames():
    from bench.testing.rows import frame as to_frame
    from bench.testing.rows import metric, relabel, row
    from robarena_infotransfer.tasks_claims import robust_perturbations_are_recognized

    defenses = {"PGD-AT": ("PGD-AT", "classics/pgd-at", {"eps": 4.0, "norm": "L2", "random_start": True,
                                                         "step_size": 3.3333333333333335, "steps": 3}),
                "standard": ("standard", "classics/standard", {})}

    def rows(robust, standard, seeds=3):
        """Seed s adds 0.01 s to the robust rate (the differences vary between seeds)."""
        return [row(defenses[name], seed=s, tasks=[metric("task", "recognizability", "recognizability/recognizability",
                                                          {"steps": 512}, "judge_target_rate", rate + 0.01 * s * up)])
                for s in range(seeds) for name, rate, up in (("PGD-AT", robust, 1), ("standard", standard, 0))]

    held = robust_perturbations_are_recognized(to_frame(rows(0.9, 0.4)))
    assert str(held.verdict) == "holds" and held.numbers["PGD-AT judge_target_rate"] == pytest.approx(0.91)
    assert held.test.startswith("paired t-test over seeds") and held.level == 0.05
    assert str(robust_perturbations_are_recognized(to_frame(rows(0.4, 0.4))).verdict) == "inconclusive"
    assert str(robust_perturbations_are_recognized(to_frame(rows(0.1, 0.4))).verdict) == "does not hold"
    one = robust_perturbations_are_recognized(to_frame(rows(0.9, 0.4, seeds=1)))
    assert str(one.verdict) == "inconclusive" and "one seed" in one.detail
    # the labels swapped and the task renamed: the rows are still told apart by defense id
    swapped = relabel(rows(0.9, 0.4), {"PGD-AT": "standard", "standard": "PGD-AT", "recognizability": "r"})
    assert robust_perturbations_are_recognized(to_frame(swapped)).numbers == held.numbers


def test_tasks_claims_are_registered_for_the_suite():
    from bench.claims import claims_for

    names = sorted(e.spec.name for e in claims_for(get_registry(), "tasks"))
    assert names == sorted(["tasks-robust-transfers-better-far", "tasks-gap-grows-with-distance",
                            "tasks-robust-inverts-closer", "tasks-robust-inverts-faster",
                            "tasks-noise-once-speeds-inversion", "tasks-robust-perturbations-recognized"])
