"""``robarena eval``: evaluate an already-trained model (bring your own model) without training it."""
from __future__ import annotations

import argparse
import time
from typing import Any

from bench._compat import tomllib
from bench.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained model from a checkpoint")
    p.add_argument("--arch", required=True, help="registered model id, timm/<name>, or package.module:factory")
    p.add_argument("--checkpoint", required=True, help=".safetensors or weights-only torch file")
    p.add_argument("--dataset", required=True, metavar="ID[:K=V,...]",
                   help="dataset id and parameters, e.g. core/digits or core/cifar10:root=/data,n_test=1000")
    p.add_argument("--attack", action="append", default=[], metavar="ID:NORM:EPS[:K=V,...]",
                   help="attack, threat model and parameters, e.g. classics/pgd:Linf:8/255 or "
                        "classics/pgd:Linf:0.3:steps=100,restarts=5 (repeatable)")
    p.add_argument("--probe", action="append", default=[], metavar="ID[:K=V,...]",
                   help="probe id and parameters (repeatable)")
    p.add_argument("--corruption", action="append", default=[], metavar="ID[:SEVERITIES]",
                   help="a common corruption and its severities (1..5, comma-separated; default all five), e.g. "
                        "corruptions/gaussian_noise:1,3,5 or corruptions/jpeg; 'PLUGIN/*' is every corruption of "
                        "that plugin and 'all' every registered corruption (e.g. all:3); repeatable")
    p.add_argument("--arch-param", action="append", default=[], metavar="K=V",
                   help="a parameter of the architecture (repeatable), e.g. --arch-param width=2")
    p.add_argument("--label", default=None, help="row label (default: checkpoint file name)")
    p.add_argument("--n", type=int, default=500, help="number of test examples (default 500)")
    p.add_argument("--name", default="eval", help="suite name the results are stored under (default eval)")
    from bench.cli.run import add_device_options, add_run_options

    add_run_options(p)
    add_device_options(p)
    p.set_defaults(handler=handle)


def parse_value(text: str) -> Any:
    """A parameter value as TOML reads it (``100``, ``0.5``, ``true``, ``"ce"``, ``[1, 2]``); bare words are strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_params(text: str, option: str) -> dict[str, Any]:
    """``K=V,K=V`` -> {K: value}; values as :func:`parse_value` (a list value may hold commas inside [...])."""
    params: dict[str, Any] = {}
    if not text:
        return params
    items, depth, current = [], 0, ""
    for ch in text:  # split on commas outside brackets, so steps=[1, 2] stays one item
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option}: {item!r} is not KEY=VALUE (write e.g. steps=100,restarts=5)")
        if key.strip() in params:
            raise UsageError(f"{option}: parameter {key.strip()!r} is given twice")
        params[key.strip()] = parse_value(value.strip())
    return params


def parse_attack(text: str) -> dict:
    """``ID:NORM:EPS[:K=V,...]`` or ``ID:unbounded[:K=V,...]`` -> a suite attack entry."""
    parts = text.split(":", 3)
    if len(parts) >= 2 and parts[1] == "unbounded":
        extra = text.split(":", 2)[2] if len(parts) > 2 else ""
        return {"id": parts[0], "norm": "unbounded", "params": parse_params(extra, f"--attack {text!r}")}
    if len(parts) not in (3, 4):
        raise UsageError(f"--attack {text!r} must look like ID:NORM:EPS[:K=V,...], e.g. classics/pgd:Linf:8/255 or "
                         "classics/pgd:Linf:0.3:steps=100,restarts=5")
    if parts[1] not in ("Linf", "L2", "linf", "l2"):
        raise UsageError(f"--attack {text!r}: unknown norm {parts[1]!r}; use Linf, L2 or unbounded (ID:NORM:EPS, e.g. "
                         "classics/pgd:Linf:8/255)")
    params = parse_params(parts[3], f"--attack {text!r}") if len(parts) == 4 else {}
    return {"id": parts[0], "norm": parts[1], "eps": parts[2], "params": params}


def parse_component(text: str, option: str) -> tuple[str, dict[str, Any]]:
    """``ID[:K=V,...]`` -> (id, params)."""
    ident, _, params = text.partition(":")
    if not ident:
        raise UsageError(f"{option} {text!r} names no component; write ID or ID:K=V,...")
    return ident, parse_params(params, f"{option} {text!r}")


def parse_corruption(text: str, registry: Any = None) -> list[dict]:
    """``ID[:SEVERITIES]`` -> suite corruption entries; ``all`` -> ``<plugin>/*`` for every plugin with corruptions."""
    ident, sep, severities = text.partition(":")
    entry: dict[str, Any] = {}
    if sep:
        try:
            entry["severity"] = [int(s) for s in severities.split(",")]
        except ValueError:
            raise UsageError(f"--corruption {text!r}: severities must be integers 1..5 separated by commas, e.g. "
                             "corruptions/gaussian_noise:1,3,5") from None
    if not ident:
        raise UsageError(f"--corruption {text!r} names no corruption; write ID[:SEVERITIES], e.g. corruptions/jpeg:3")
    if ident != "all":
        return [{"id": ident, **entry}]
    if registry is None:
        from bench.registry import get_registry

        registry = get_registry()
    plugins = sorted({e.plugin.name for e in registry.entries("corruption")})
    if not plugins:
        raise UsageError("--corruption all: no installed plugin registers corruptions (install robarena-corruptions)")
    return [{"id": f"{name}/*", **entry} for name in plugins]


def handle(args: argparse.Namespace) -> int:
    from bench.cli.run import report
    from bench.cli.tables import TableOptions
    from bench.runner.api import evaluate

    if not args.attack and not args.probe and not args.corruption:
        raise UsageError("give at least one --attack ID:NORM:EPS, --probe ID or --corruption ID[:SEVERITIES]")
    dataset, dataset_params = parse_component(args.dataset, "--dataset")
    probes = [dict(zip(("id", "params"), parse_component(p, "--probe"))) for p in args.probe]
    arch_params = parse_params(",".join(args.arch_param), "--arch-param")
    corruptions = [c for text in args.corruption for c in parse_corruption(text)]
    start = time.perf_counter()
    result = evaluate(arch=args.arch, checkpoint=args.checkpoint, dataset=dataset, dataset_params=dataset_params,
                      arch_params=arch_params, attacks=[parse_attack(a) for a in args.attack], probes=probes,
                      corruptions=corruptions,
                      label=args.label, n=args.n, name=args.name, workdir=args.workdir, device=args.device,
                      plugins=args.plugins, progress=not args.no_progress, debug=args.debug, amp=args.amp,
                      channels_last=args.channels_last, compile=args.compile, trust_modules=args.trust_module)
    return report(result, time.perf_counter() - start, TableOptions(show_all=True))  # one row: every column
