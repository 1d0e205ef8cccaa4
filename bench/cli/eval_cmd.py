"""``robarena eval``: evaluate an already-trained model (bring your own model) without training it."""
from __future__ import annotations

import argparse
import time

from bench.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained model from a checkpoint")
    p.add_argument("--arch", required=True, help="registered model id, timm/<name>, or package.module:factory")
    p.add_argument("--checkpoint", required=True, help=".safetensors or weights-only torch file")
    p.add_argument("--dataset", required=True, help="dataset id, e.g. core/digits")
    p.add_argument("--attack", action="append", default=[], metavar="ID:NORM:EPS",
                   help="attack with threat model, e.g. classics/pgd:Linf:8/255 (repeatable)")
    p.add_argument("--probe", action="append", default=[], metavar="ID", help="probe id (repeatable)")
    p.add_argument("--label", default=None, help="row label (default: checkpoint file name)")
    p.add_argument("--n", type=int, default=500, help="number of test examples (default 500)")
    p.add_argument("--name", default="eval", help="suite name the results are stored under (default eval)")
    from bench.cli.run import add_device_options, add_run_options

    add_run_options(p)
    add_device_options(p)
    p.set_defaults(handler=handle)


def parse_attack(text: str) -> dict:
    parts = text.split(":")
    if len(parts) == 2 and parts[1] == "unbounded":
        return {"id": parts[0], "norm": "unbounded"}
    if len(parts) != 3:
        raise UsageError(f"--attack {text!r} must look like ID:NORM:EPS, e.g. classics/pgd:Linf:8/255")
    return {"id": parts[0], "norm": parts[1], "eps": parts[2]}


def handle(args: argparse.Namespace) -> int:
    from bench.cli.run import report
    from bench.runner.api import evaluate

    if not args.attack and not args.probe:
        raise UsageError("give at least one --attack ID:NORM:EPS or --probe ID")
    start = time.perf_counter()
    result = evaluate(arch=args.arch, checkpoint=args.checkpoint, dataset=args.dataset,
                      attacks=[parse_attack(a) for a in args.attack], probes=[{"id": p} for p in args.probe],
                      label=args.label, n=args.n, name=args.name, workdir=args.workdir, device=args.device,
                      plugins=args.plugins, progress=not args.no_progress, debug=args.debug, amp=args.amp,
                      channels_last=args.channels_last, compile=args.compile, trust_modules=args.trust_module)
    return report(result, time.perf_counter() - start)
