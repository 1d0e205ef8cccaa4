"""--compile: attacks on a torch.compile'd model, same results, own cache keys, clear errors.

The default run uses the ``aot_eager`` backend (dynamo tracing and AOT autograd, no code
generation: seconds); inductor is measured in tests/benchmarks/test_attack_perf.py.
"""
import pytest
import torch
from runner_helpers import tiny_suite
from scale_helpers import kits, row_dump, store_cells  # noqa: F401 (fixture)

import bench
from bench.cli.main import build_parser
from bench.errors import UsageError
from bench.registry import get_registry
from bench.runner.context import RunContext
from bench.runner.plan import CleanCell, build_plan
from bench.runner.stages import key_for
from bench.runner.suite import resolve_suite
from bench.threat import ThreatModel


def test_compiled_attacks_give_the_same_rows_under_their_own_keys(tmp_path, kits):
    plain = bench.run(tiny_suite(), workdir=tmp_path / "a", plugins=kits, device="cpu")
    fast = bench.run(tiny_suite(), workdir=tmp_path / "b", plugins=kits, device="cpu", compile="aot_eager")
    assert plain.ok and fast.ok
    assert [r.model_dump(exclude={"provenance"}) for r in fast.rows] == \
        [r.model_dump(exclude={"provenance"}) for r in plain.rows]
    a, b = store_cells(tmp_path / "a"), store_cells(tmp_path / "b")
    attack_a = {k for k, c in a.items() if c["stage"] == "attack"}
    attack_b = {k for k, c in b.items() if c["stage"] == "attack"}
    assert attack_a and attack_a.isdisjoint(attack_b)  # compiled attacks are other cells
    assert {k for k in a if k not in attack_a} == {k for k in b if k not in attack_b}  # training, clean, ...
    assert all(b[k]["meta"]["compile"] == "aot_eager" for k in attack_b)
    assert all("compile" not in c["meta"] for c in a.values())
    assert [a[k]["payload"]["robust_accuracy"] for k in sorted(attack_a)] == \
        [b[k]["payload"]["robust_accuracy"] for k in sorted(attack_b)]


def test_compile_is_part_of_attack_keys_only(tmp_path, kits):
    registry = get_registry(kits)
    plan = build_plan(resolve_suite(tiny_suite(), registry), registry)
    make = lambda **kw: RunContext(registry=registry, workdir=tmp_path, device=torch.device("cpu"),  # noqa: E731
                                   progress=False, eval_n=60, eval_batch=32, **kw)
    base, compiled = make(), make(compile="inductor")
    train, attack = plan.train_cells[0], plan.attack_cells[0]
    assert key_for(compiled, train) == key_for(base, train)
    assert key_for(compiled, CleanCell(train)) == key_for(base, CleanCell(train))
    assert key_for(compiled, attack) != key_for(base, attack)
    model = torch.nn.Linear(2, 2)
    assert base.attack_model(model) is model
    wrapper = compiled.attack_model(model)
    assert wrapper is not model and compiled.attack_model(model) is wrapper  # one wrapper per model


def test_unknown_backend_is_refused_before_anything_runs(tmp_path, kits):
    with pytest.raises(UsageError, match="--compile 'inductr': not a torch.compile backend.*inductor"):
        bench.run(tiny_suite(), workdir=tmp_path, plugins=kits, device="cpu", compile="inductr")
    assert not (tmp_path / "results.sqlite").exists()


def test_a_backend_that_fails_fails_the_attack_cells_with_advice(tmp_path, kits):
    from torch._dynamo import register_backend

    @register_backend(name="robarena_test_broken")
    def broken(gm, example_inputs):  # a compiler that cannot handle the model
        raise RuntimeError("no code for this graph")

    res = bench.run(tiny_suite(), workdir=tmp_path, plugins=kits, device="cpu", compile="robarena_test_broken")
    failed = {f.stage for f in res.failures}
    assert failed == {"attack"} or failed == {"attack", "probe"}
    error = next(f.error for f in res.failures if f.stage == "attack")
    assert "--compile robarena_test_broken could not compile" in error and "without --compile" in error
    done = {c["stage"] for c in store_cells(tmp_path).values() if c["status"] == "ok"}
    assert {"train", "clean"} <= done  # what was computed before is kept


def test_run_cli_compile_option():
    parse = build_parser().parse_args
    assert parse(["run", "quick"]).compile is None
    assert parse(["run", "quick", "--compile"]).compile == "inductor"
    assert parse(["run", "quick", "--compile", "aot_eager"]).compile == "aot_eager"


def test_pgd_on_a_compiled_cnn_matches_eager_with_shrinking_batches():
    """Early stopping shrinks PGD's working batch every few steps; with dynamic shapes the compiled
    model follows without a new graph per size and gives the eager result."""
    from robarena_classics.attacks.pgd import PGD
    from robarena_classics.models.small_cnn import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN((1, 8, 8), 10).eval()
    x, threat = torch.rand(48, 1, 8, 8), ThreatModel(norm="Linf", eps=0.02)
    y = model(x).argmax(1)  # every example starts correctly classified
    attack = lambda m: PGD(PGD.Config(steps=10, step_size=0.005, restarts=2), seed=3)(m, x, y, threat)  # noqa: E731
    eager = attack(model)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", dynamic=True)
    out = attack(compiled)
    fooled = model(eager.x_adv).argmax(1) != y
    assert 0 < int(fooled.sum()) < 48  # the batch shrank and some examples ran every step
    assert torch.equal(model(out.x_adv).argmax(1) != y, fooled)
    assert torch.allclose(out.x_adv, eager.x_adv, atol=1e-6)


@pytest.mark.gpu
def test_compile_inductor_on_cuda(tmp_path, kits):
    plain = bench.run(tiny_suite(), workdir=tmp_path / "a", plugins=kits, device="cuda")
    fast = bench.run(tiny_suite(), workdir=tmp_path / "b", plugins=kits, device="cuda", compile="inductor")
    assert plain.ok and fast.ok
    assert [r.metric_columns() for r in fast.rows] == [r.metric_columns() for r in plain.rows]


def test_eval_cli_takes_the_device_options(tmp_path, testkit):
    """``robarena eval --compile``: a pretrained model's attacks on the compiled model, same row."""
    from bench.cli.main import main
    from bench.runner.results import load_rows
    from bench.testing.tiny import TinyLinear

    torch.manual_seed(0)
    ckpt = tmp_path / "lin.pt"
    torch.save(TinyLinear((1, 8, 8), 10).state_dict(), ckpt)
    rows = []
    for extra, wd in (([], "plain"), (["--compile", "aot_eager"], "compiled")):
        code = main(["-p", "robarena_testkit", "eval", "--arch", "tiny-linear", "--checkpoint", str(ckpt),
                     "--dataset", "core/digits", "--attack", "sign:Linf:0.05", "--n", "40",
                     "--workdir", str(tmp_path / wd), "--no-progress", *extra])
        assert code == 0
        (row,) = load_rows(tmp_path / wd, "eval")
        rows.append(row)
    assert rows[0].metric_columns() == rows[1].metric_columns()
    assert store_cells(tmp_path / "plain").keys() != store_cells(tmp_path / "compiled").keys()
