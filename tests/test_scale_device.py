"""Device options: --device, --amp and --channels-last; nothing assumes CUDA on a CPU machine."""
import contextlib

import pytest
import torch
from runner_helpers import tiny_suite
from scale_helpers import kits, row_dump, store_cells  # noqa: F401 (fixture)

import bench
from bench.cli.main import build_parser
from bench.errors import UsageError
from bench.registry import get_registry
from bench.runner.context import RunContext, resolve_device
from bench.runner.plan import CleanCell, build_plan
from bench.runner.stages import key_for
from bench.runner.suite import resolve_suite


def test_amp_and_channels_last_are_ignored_on_cpu_with_a_warning(tmp_path, kits):
    plain = bench.run(tiny_suite(), workdir=tmp_path / "a", plugins=kits, device="cpu")
    with pytest.warns(RuntimeWarning) as caught:
        fast = bench.run(tiny_suite(), workdir=tmp_path / "b", plugins=kits, device="cpu", amp=True,
                         channels_last=True)
    assert sorted(str(w.message) for w in caught) == ["--amp is CUDA-only; ignored on cpu",
                                                      "--channels-last is CUDA-only; ignored on cpu"]
    assert row_dump(fast.rows) == row_dump(plain.rows)
    assert store_cells(tmp_path / "b") == store_cells(tmp_path / "a")  # same keys, results and metadata


def test_run_cli_accepts_the_scale_options():
    args = build_parser().parse_args(["run", "quick", "--device", "cpu", "--amp", "--channels-last",
                                      "--executor", "ray", "--ray-num-cpus", "2", "--ray-gpus-per-task", "0.5"])
    assert (args.device, args.amp, args.channels_last, args.executor, args.ray_num_cpus, args.ray_gpus_per_task) \
        == ("cpu", True, True, "ray", 2, 0.5)
    defaults = build_parser().parse_args(["run", "quick"])
    assert (defaults.device, defaults.amp, defaults.channels_last, defaults.executor, defaults.address) \
        == ("auto", False, False, "inprocess", None)


def contexts(tmp_path, kits, device):
    registry = get_registry(kits)
    plan = build_plan(resolve_suite(tiny_suite(), registry), registry)
    make = lambda **kw: RunContext(registry=registry, workdir=tmp_path, device=torch.device(device),  # noqa: E731
                                   progress=False, eval_n=60, eval_batch=32, **kw)
    return plan, make


def test_amp_is_part_of_the_cache_keys_on_cuda_only(tmp_path, kits):
    """bf16 training gives other weights: with --amp on CUDA, training and clean cells get their own keys
    (and so do the attacks on that model); channels_last is a memory layout and keeps the keys."""
    plan, make = contexts(tmp_path, kits, "cuda")  # a device object; nothing here touches a GPU
    train, attack = plan.train_cells[0], plan.attack_cells[0]
    base, amp, layout = make(), make(amp=True), make(channels_last=True)
    assert key_for(amp, train) != key_for(base, train) == key_for(layout, train)
    assert key_for(amp, CleanCell(train)) != key_for(base, CleanCell(train))
    assert key_for(amp, attack) != key_for(base, attack)
    assert amp.amp_dtype == torch.bfloat16 and amp.environment()["amp"] == "bfloat16"
    assert "amp" not in base.environment() and layout.environment()["memory_format"] == "channels_last"
    _, make_cpu = contexts(tmp_path, kits, "cpu")
    cpu_amp = make_cpu(amp=True, channels_last=True)
    assert cpu_amp.amp_dtype is None and not cpu_amp.uses_channels_last
    assert key_for(cpu_amp, train) == key_for(make_cpu(), train)
    model = torch.nn.Conv2d(1, 2, 3)
    assert cpu_amp.prepare_model(model) is model and isinstance(cpu_amp.autocast(), contextlib.nullcontext)


def test_mixed_precision_covers_training_and_clean_inference_never_attacks(tmp_path, kits, monkeypatch):
    """Which computations run inside ``ctx.autocast()``: recorded with a stand-in autocast on CPU."""
    import robarena_testkit_impl as impl

    from bench.runner import stages

    state = {"on": False}
    seen = []

    @contextlib.contextmanager
    def recording_autocast(self):
        state["on"] = True
        try:
            yield
        finally:
            state["on"] = False

    def recorder(name, fn):
        def wrapped(*args, **kwargs):
            seen.append((name, state["on"]))
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(RunContext, "autocast", recording_autocast)
    monkeypatch.setattr(stages.common, "predict", recorder("predict", stages.common.predict))
    monkeypatch.setattr(impl.ERM, "fit", recorder("train", impl.ERM.fit))
    monkeypatch.setattr(impl.SignStep, "run", recorder("attack", impl.SignStep.run))
    with pytest.warns(RuntimeWarning, match="--amp is CUDA-only"):
        res = bench.run(tiny_suite(), workdir=tmp_path, plugins=kits, device="cpu", amp=True)
    assert res.ok
    # training, then the clean stage's predictions under autocast; the attack (2 batches of 32 over 60
    # examples) and its scoring (clean-correct and adversarial predictions) in full precision
    assert seen == [("train", True), ("predict", True), ("attack", False), ("attack", False),
                    ("predict", False), ("predict", False)]


def test_device_resolution_on_a_machine_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UsageError, match="CUDA is not available; use --device cpu or auto"):
        resolve_device("cuda:1")
    assert resolve_device("cuda:1", require_local=False) == torch.device("cuda:1")  # a Ray cluster's GPUs
    with pytest.raises(UsageError, match="not supported"):
        resolve_device("meta")
    with pytest.raises(UsageError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


@pytest.mark.gpu
def test_amp_and_channels_last_on_cuda(tmp_path, kits):
    plain = bench.run(tiny_suite(), workdir=tmp_path, plugins=kits, device="cuda")
    fast = bench.run(tiny_suite(), workdir=tmp_path, plugins=kits, device="cuda", amp=True, channels_last=True)
    assert plain.ok and fast.ok and fast.computed == 4  # bf16 training is its own cell
    meta = [c["meta"] for c in store_cells(tmp_path).values() if c["meta"].get("amp")]
    assert len(meta) == 4 and all(m["memory_format"] == "channels_last" for m in meta)
