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
