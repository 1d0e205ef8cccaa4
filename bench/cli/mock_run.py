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


def _smoke_params(entry) -> dict:
    """The component's ``smoke_config()`` as suite parameters (models, attacks and tasks have one);
    ``{}`` (its defaults) otherwise."""
    impl = entry.load()
    smoke = getattr(impl, "smoke_config", None)
    return smoke().model_dump(mode="json") if callable(smoke) else {}


def _attack_ref(entry) -> dict:
    norm = entry.spec.norms[0]
    ref = {"id": entry.qualified_id, "norm": norm, "targeted": not entry.spec.untargeted,
           "params": _smoke_params(entry)}
    if norm != "unbounded":
        ref["eps"] = 0.1 if norm == "Linf" else 1.0
    return ref


def mock_suites(registry, plugin: str) -> list[dict]:
    """Tiny suites that push every component registered by ``plugin`` through the pipeline.

    The first trains each of the plugin's models (or a fallback) with plain training (a
    ``standard`` or ``erm`` defense) and runs every attack, probe and task of the plugin on
    them (and every corruption at severities 1 and 5); the second, when the plugin has defenses, trains the first model with each of them
    and runs one attack. Models, attacks and tasks use their
    ``smoke_config()``: the point is that every component runs, not the paper budgets (the full
    grid of a plugin such as classics, 8 models x 4 defenses x 13 attacks at paper budgets,
    ran for more than 10 minutes). Probes that read the suite's attacks get a fallback attack when the
    plugin has none.
    """
    if plugin not in {p.name for p in registry.plugins()}:
        names = ", ".join(sorted(p.name for p in registry.plugins()))
        raise UsageError(f"no plugin named {plugin!r} is loaded; loaded plugins: {names}")
    own = {k: [e for e in registry.entries(k) if e.plugin.name == plugin]
           for k in ("dataset", "model", "defense", "attack", "probe", "task", "corruption")}
    embedded = [e for e in own["dataset"] if e.spec.embedded]  # real datasets need local files
    datasets = _pick(registry, "dataset", embedded, ("digits",))
    models = _pick(registry, "model", own["model"], ("small-cnn", "linear"))
    plain = _pick(registry, "defense", [], ("standard", "erm"))[0]  # trains the models every attack runs on
    attacks = [_attack_ref(e) for e in own["attack"]]
    if not attacks and any(e.spec.needs_attacks for e in own["probe"]):
        fallback = _pick(registry, "attack", [], ("pgd", "fgsm"))[0]
        attacks.append(_attack_ref(fallback))

    def data_params(e):
        return dict(TINY_DATA) if e.spec.embedded and e.qualified_id.startswith("core/") else {}

    base = {"datasets": [{"id": e.qualified_id, "params": data_params(e)} for e in datasets],
            "train": TINY_TRAIN, "eval": {"n": 16, "batch_size": 16}}
    main = {
        "name": f"mock-{plugin}", **base,
        "models": [{"id": e.qualified_id, "params": _smoke_params(e)} for e in models],
        "defenses": [{"id": plain.qualified_id}],
        "attacks": attacks,
        "probes": [{"id": e.qualified_id} for e in own["probe"]],
        "tasks": [{"id": e.qualified_id, "params": _smoke_params(e)} for e in own["task"]],
        "corruptions": [{"id": e.qualified_id, "severity": [1, 5]} for e in own["corruption"]],
    }
    suites = [main]
    others = [e for e in own["defense"] if e.qualified_id != plain.qualified_id]
    if others:
        suites.append({"name": f"mock-{plugin}-defenses", **base, "models": [main["models"][0]],
                       "defenses": [{"id": e.qualified_id} for e in others],
                       "attacks": [attacks[0]] if attacks else []})
    return suites


def mock_suite(registry, plugin: str) -> dict:
    """The first of :func:`mock_suites`: every model, attack, probe and task of ``plugin``."""
    return mock_suites(registry, plugin)[0]


def handle(args: argparse.Namespace) -> int:
    from bench.cli.run import report
    from bench.cli.tables import TableOptions
    from bench.registry import get_registry
    from bench.runner.api import run

    registry = get_registry(tuple(args.plugins))
    suites = mock_suites(registry, args.plugin)
    code = 0
    with tempfile.TemporaryDirectory(prefix="robarena-mock-") as tmp:
        for suite in suites:
            start = time.perf_counter()
            result = run(suite, workdir=args.workdir or tmp, device=args.device, plugins=args.plugins,
                         progress=False, debug=args.debug)
            code = max(code, report(result, time.perf_counter() - start, TableOptions(show_all=True)))
    return code
