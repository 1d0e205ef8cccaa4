"""``robarena mock-run PLUGIN``: push every component of one plugin through the pipeline on tiny data."""
from __future__ import annotations

import argparse
import tempfile
import time

from bench.errors import UsageError

TINY_TRAIN = {"epochs": 1, "batch_size": 32}
TINY_DATA = {"n_train": 128, "n_test": 32}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mock-run", help="run one plugin's components end to end on tiny data")
    p.add_argument("plugin", help="plugin name as shown by 'robarena ls plugins'")
    p.add_argument("--workdir", default=None, help="keep results here (default: a temporary directory)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=handle)


def _pick(registry, kind: str, own: list, fallback_names: tuple[str, ...]) -> list:
    if own:
        return own
    for name in fallback_names:
        matches = [e for e in registry.entries(kind) if e.spec.name == name]
        if matches:
            return matches[:1]
    entries = registry.entries(kind)
    if not entries:
        raise UsageError(f"mock-run needs at least one {kind}; install a plugin that provides one (e.g. robarena-classics)")
    return entries[:1]


def mock_suite(registry, plugin: str) -> dict:
    """A tiny suite exercising every component registered by ``plugin`` (tasks with their ``smoke_config()``)."""
    if plugin not in {p.name for p in registry.plugins()}:
        names = ", ".join(sorted(p.name for p in registry.plugins()))
        raise UsageError(f"no plugin named {plugin!r} is loaded; loaded plugins: {names}")
    own = {k: [e for e in registry.entries(k) if e.plugin.name == plugin]
           for k in ("dataset", "model", "defense", "attack", "probe", "task")}
    embedded = [e for e in own["dataset"] if e.spec.embedded]  # real datasets need local files
    datasets = _pick(registry, "dataset", embedded, ("digits",))
    models = _pick(registry, "model", own["model"], ("small-cnn", "linear"))
    defenses = _pick(registry, "defense", own["defense"], ("standard",))
    attacks = []
    for entry in own["attack"]:
        norm = entry.spec.norms[0]
        ref = {"id": entry.qualified_id, "norm": norm, "targeted": not entry.spec.untargeted}
        if norm != "unbounded":
            ref["eps"] = 0.1 if norm == "Linf" else 1.0
        attacks.append(ref)
    def data_params(e):
        return dict(TINY_DATA) if e.spec.embedded and e.qualified_id.startswith("core/") else {}
    return {
        "name": f"mock-{plugin}",
        "datasets": [{"id": e.qualified_id, "params": data_params(e)} for e in datasets],
        "models": [{"id": e.qualified_id} for e in models],
        "defenses": [{"id": e.qualified_id} for e in defenses],
        "attacks": attacks,
        "probes": [{"id": e.qualified_id} for e in own["probe"]],
        "tasks": [{"id": e.qualified_id, "params": e.load().smoke_config().model_dump(mode="json")}
                  for e in own["task"]],
        "train": TINY_TRAIN,
        "eval": {"n": 16, "batch_size": 16},
    }


def handle(args: argparse.Namespace) -> int:
    from bench.cli.run import report
    from bench.registry import get_registry
    from bench.runner.api import run

    registry = get_registry(tuple(args.plugins))
    suite = mock_suite(registry, args.plugin)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="robarena-mock-") as tmp:
        result = run(suite, workdir=args.workdir or tmp, device=args.device, plugins=args.plugins,
                     progress=False, debug=args.debug)
        return report(result, time.perf_counter() - start)
