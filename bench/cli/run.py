"""``robarena run SUITE``: run a plugin-shipped suite by name or a suite file."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

from bench.cli.tables import TableOptions, add_table_options, print_rows


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a suite (a name such as 'quick', or a path to suite.toml)")
    p.add_argument("suite", help="suite name (see 'robarena ls suites') or path to a TOML suite file")
    add_run_options(p)
    add_scale_options(p)
    p.add_argument("--explain", action="store_true",
                   help="print, per cell, whether it would be reused or recomputed and why; computes nothing")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (every cell with its budget, cached or not) and an estimate of its compute: "
                        "forward/backward passes, hours on this CPU from a throughput measured now, and on a GPU "
                        "from a stated assumption; computes and stores nothing")
    p.add_argument("--gpu-tflops", type=float, default=None, metavar="TFLOPS",
                   help="with --dry-run: the GPU's assumed sustained TFLOP/s (default 100, an H100 assumption)")
    p.add_argument("--json", action="store_true", help="with --dry-run: print the plan and estimate as JSON")
    add_table_options(p)
    p.set_defaults(handler=handle)


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", default=".robarena", help="results store and cache (default ./.robarena)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--trust-module", action="append", default=[], metavar="MODULE",
                   help="let module:factory architectures call any function of MODULE (and its submodules), "
                        "not only those marked @bench.model_factory; repeatable; never robarena's own modules")


def add_scale_options(p: argparse.ArgumentParser) -> None:
    """Executor and device options of ``robarena run`` (docs/scale.md)."""
    add_device_options(p)
    p.add_argument("--executor", choices=["inprocess", "ray"], default="inprocess",
                   help="inprocess (default) or ray: one Ray task per cell (pip install 'robarena[ray]')")
    p.add_argument("--address", default=None,
                   help="Ray cluster to connect to (e.g. auto, ray://head:10001); default: a local Ray instance")
    p.add_argument("--ray-num-cpus", type=int, default=None,
                   help="CPUs of the local Ray instance (default: all cores); not with --address")
    p.add_argument("--ray-gpus-per-task", type=float, default=1.0,
                   help="GPUs each Ray task declares when the device is CUDA (default 1; fractions share a GPU)")


def add_device_options(p: argparse.ArgumentParser) -> None:
    """--amp, --channels-last, --compile (``run`` and ``eval``)."""
    p.add_argument("--amp", action="store_true",
                   help="bf16 mixed precision for training and clean inference on CUDA (never for attacks or "
                        "robust scoring); ignored on CPU")
    p.add_argument("--channels-last", action="store_true",
                   help="channels_last memory format for models on CUDA; ignored on CPU")
    p.add_argument("--compile", nargs="?", const="inductor", default=None, metavar="BACKEND",
                   help="torch.compile the models attacks run on (default backend inductor; dynamic shapes); "
                        "meant for GPUs, where it pays off; compile time is spent once per model")


def report(result, elapsed: float, table: Optional[TableOptions] = None) -> int:
    """Print the dropped cells, the rows as a table that fits the terminal (``table``: which columns and
    rows, default the compact view), a summary line and the failed cells; the exit code."""
    from bench.errors import UsageError

    for what, why in result.dropped:
        print(f"dropped {what}: {why}")
    for what, why in getattr(getattr(result, "plan", None), "notes", ()):  # ran anyway, e.g. a marginal eps reach
        print(f"WARNING: {what}: {why}", file=sys.stderr)
    table = table or TableOptions()
    try:
        print_rows(result.rows, table)
    except UsageError as exc:  # a --columns pattern that matches nothing: the results are stored all the same
        print(f"WARNING: {exc}", file=sys.stderr)
        print_rows(result.rows, TableOptions(seeds=table.seeds, width=table.width))
    print(f"\n{len(result.rows)} row(s); {result.computed} cell(s) computed, {result.cached} from cache, "
          f"{len(result.failures)} failed; {elapsed:.1f}s; results in {result.workdir}")
    if result.failures:
        print(f"\n{len(result.failures)} failed cell(s):", file=sys.stderr)
        for f in result.failures:
            print(f"  [{f.stage}] {f.cell_id}: {f.error}", file=sys.stderr)
        return 1
    return 0


def handle(args: argparse.Namespace) -> int:
    from bench.cli.paths import check_writable_workdir
    from bench.runner.api import run

    if args.dry_run:  # reads the store only, writes nothing
        from bench.cli.dry_run import print_dry_run
        from bench.runner.estimate import GPU_TFLOPS, dry_run

        estimate = dry_run(args.suite, workdir=args.workdir, device=args.device, plugins=args.plugins,
                           trust_modules=args.trust_module, amp=args.amp, channels_last=args.channels_last,
                           compile=args.compile, gpu_tflops=GPU_TFLOPS if args.gpu_tflops is None else args.gpu_tflops)
        if args.json:
            print(estimate.dumps())
        else:
            print_dry_run(estimate)
        return 0
    if args.json or args.gpu_tflops is not None:
        from bench.errors import UsageError

        raise UsageError("--json and --gpu-tflops go with --dry-run")
    if args.explain:  # reads the store only: works on a read-only work directory
        from bench.runner.explain import explain, format_explanations

        print(format_explanations(explain(args.suite, workdir=args.workdir, device=args.device, plugins=args.plugins,
                                          trust_modules=args.trust_module, amp=args.amp,
                                          channels_last=args.channels_last, compile=args.compile)))
        return 0
    check_writable_workdir(args.workdir)
    start = time.perf_counter()
    result = run(args.suite, workdir=args.workdir, device=args.device, plugins=args.plugins,
                 progress=not args.no_progress, debug=args.debug, executor=args.executor, address=args.address,
                 ray_num_cpus=args.ray_num_cpus, ray_gpus_per_task=args.ray_gpus_per_task, amp=args.amp,
                 channels_last=args.channels_last, compile=args.compile, trust_modules=args.trust_module)
    return report(result, time.perf_counter() - start, TableOptions.from_args(args))
