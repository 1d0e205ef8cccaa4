"""The `tasks` suite puts the three per-model tasks on the same standard and robust source models."""
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
    import pandas as pd

    from robarena_infotransfer.tasks_claims import JUDGE, robust_perturbations_are_recognized

    def frame(robust, standard):
        return pd.DataFrame({"defense": ["PGD-AT", "standard"], JUDGE: [robust, standard]})

    held = robust_perturbations_are_recognized(frame(0.9, 0.4))
    assert held.holds is True and held.numbers["PGD-AT judge_target_rate"] == 0.9
    assert robust_perturbations_are_recognized(frame(0.4, 0.4)).holds is False
    assert robust_perturbations_are_recognized(frame(0.1, 0.4)).holds is False


def test_tasks_claims_are_registered_for_the_suite():
    from bench.claims import claims_for

    names = sorted(e.spec.name for e in claims_for(get_registry(), "tasks"))
    assert names == sorted(["tasks-robust-transfers-better-far", "tasks-gap-grows-with-distance",
                            "tasks-robust-inverts-closer", "tasks-robust-inverts-faster",
                            "tasks-noise-once-speeds-inversion", "tasks-robust-perturbations-recognized"])
