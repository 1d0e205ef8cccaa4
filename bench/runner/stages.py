"""The four cached stages. Each returns its stored record; a cache hit computes nothing.

A record whose artifacts fail their hash check is treated as missing and recomputed.
Scoring belongs here, not to attacks: robust accuracy is this module's own forward pass.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from bench.api.data import DatasetSplits
from bench.api.defense import TrainContext
from bench.api.probe import AttackRecord, ProbeInput
from bench.api.task import TaskInput, declared_columns
from bench.errors import CorruptArtifactError, RobarenaError, UsageError
from bench.runner.context import RunContext, base_meta
from bench.runner.keys import cell_key, file_sha256
from bench.runner.models import build_arch, build_registered, load_into, load_state
from bench.runner.plan import AttackCell, CleanCell, ProbeCell, TaskCell, TrainCell


ARTIFACT_FIELDS = {"train": ("checkpoint",), "clean": ("arrays",), "attack": ("arrays",), "probe": ("arrays",),
                   "task": ("artifacts",)}  # payload fields that hold cache digests, verified on every hit


def cached(ctx: RunContext, key: str, artifact_fields: tuple[str, ...] = ()) -> Optional[dict]:
    """The stored ok record for ``key`` if all its artifacts verify; else None (recompute)."""
    rec = ctx.store.get_cell(key)
    if rec is None or rec["status"] != "ok":
        return None
    for name in artifact_fields:
        digests = rec["payload"].get(name)
        for digest in (digests.values() if isinstance(digests, dict) else [digests]):
            if digest and not ctx.cache.has(digest):
                ctx.cache.discard(digest)
                return None
    return rec


# --------------------------------------------------------------------------- train
def train_parts(ctx: RunContext, cell: TrainCell, data: DatasetSplits) -> dict[str, Any]:
    parts: dict[str, Any] = {"dataset": cell.dataset.describe(), "fingerprint": data.fingerprint, "seed": cell.seed}
    if cell.pretrained is not None:
        pre = cell.pretrained
        parts["pretrained"] = {"arch": pre.arch, "arch_params": pre.arch_params, "mean": pre.mean, "std": pre.std,
                               "checkpoint_sha256": file_sha256(pre.checkpoint), "arch_version": _arch_version(ctx, pre.arch)}
    else:
        parts.update(model=cell.model.describe(), defense=cell.defense.describe(),  # type: ignore[union-attr]
                     train=cell.train.key_dict())  # type: ignore[union-attr]
        if ctx.amp_dtype is not None:  # mixed-precision training gives other weights: another cell
            parts["amp"] = str(ctx.amp_dtype)
    return parts


def _arch_version(ctx: RunContext, arch: str) -> str:
    """What the architecture's code version is: timm's version, the spec's, or the user's module."""
    if arch.startswith("timm/"):
        import timm

        return f"timm-{timm.__version__}"
    if ":" in arch:
        return "user"
    entry = ctx.registry.get("model", arch)
    return f"{entry.plugin.distribution}-{entry.plugin.version}/v{entry.version}"


def _defense(cell: TrainCell) -> Any:
    impl = cell.defense.entry.load()  # type: ignore[union-attr]
    return impl(config=impl.Config(**cell.defense.kwargs), train=cell.train)  # type: ignore[union-attr]


def _architecture(ctx: RunContext, cell: TrainCell, data: DatasetSplits) -> nn.Module:
    if cell.pretrained is not None:
        pre = cell.pretrained
        return build_arch(pre.arch, ctx.registry, data.shape, data.num_classes, pre.arch_params, pre.mean, pre.std)
    return build_registered(cell.model.entry, cell.model.kwargs, data.shape, data.num_classes)  # type: ignore[union-attr]


def train_key(ctx: RunContext, cell: TrainCell) -> str:
    return cell_key("train", train_parts(ctx, cell, ctx.dataset(cell.dataset)))


def run_train(ctx: RunContext, cell: TrainCell) -> tuple[nn.Module, dict]:
    """Train (or load) the cell's model; returns (eval-mode model on the device, record)."""
    data = ctx.dataset(cell.dataset)
    key = train_key(ctx, cell)
    if key in ctx.models:
        return ctx.models[key], ctx.store.get_cell(key)  # type: ignore[return-value]
    rec = cached(ctx, key, ARTIFACT_FIELDS["train"])
    if rec is not None:
        model = _architecture(ctx, cell, data)
        if cell.defense is not None:
            model = _defense(cell).wrap(model)
        model.load_state_dict(ctx.cache.get_tensors(rec["payload"]["checkpoint"]))
        model = ctx.prepare_model(model.to(ctx.device)).eval()
    else:
        start = time.perf_counter()
        log: dict[str, Any] = {}
        if cell.pretrained is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cell.seed)
                model = _architecture(ctx, cell, data)
            load_into(model, load_state(cell.pretrained.checkpoint), cell.pretrained.checkpoint)
            model = ctx.prepare_model(model.to(ctx.device)).eval()
        else:
            partial = ctx.workdir / "partial" / f"{key}.pt"
            gen = torch.Generator(device=ctx.device).manual_seed(cell.seed)
            tctx = TrainContext(device=ctx.device, seed=cell.seed, generator=gen, progress=ctx.progress,
                                description=f"train {cell.row_id}", save_epoch=_epoch_saver(partial),
                                load_epoch=_epoch_loader(partial), log=log)
            with ctx.autocast():  # bf16 forward passes with --amp on CUDA, else a no-op
                model = _defense(cell)(lambda: ctx.prepare_model(_architecture(ctx, cell, data)), data, tctx)
            partial.unlink(missing_ok=True)
            _remove_stale_partials(partial)
        digest = ctx.cache.put_tensors(model.state_dict())
        payload = {"checkpoint": digest, "seconds": round(time.perf_counter() - start, 3),
                   "log": _jsonable(log)}
        rec = ctx.store.put_cell(key, "train", cell.row_id, "ok", payload, meta_for(ctx, cell))
        ctx.computed.append(key)
    ctx.models[key] = model
    return model, rec


def _labels(cell: TrainCell) -> dict[str, Any]:
    if cell.pretrained is not None:
        return {"dataset": cell.dataset.label, "dataset_id": cell.dataset.qid, "model": cell.pretrained.label,
                "model_id": cell.pretrained.arch, "defense": "pretrained", "defense_id": "pretrained"}
    return {"dataset": cell.dataset.label, "dataset_id": cell.dataset.qid, "model": cell.model.label,  # type: ignore[union-attr]
            "model_id": cell.model.qid, "defense": cell.defense.label, "defense_id": cell.defense.qid}  # type: ignore[union-attr]


def _remove_stale_partials(path: Path) -> None:
    """Delete ``<path>.<pid>.tmp`` files left by killed writers (a live writer's file is kept)."""
    for tmp in path.parent.glob(f"{path.name}.*.tmp"):
        try:
            pid = int(tmp.name[len(path.name) + 1:-len(".tmp")])
        except ValueError:
            continue
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except PermissionError:  # exists, owned by someone else
            pass


def _epoch_saver(path: Path):
    def save(epoch: int, state: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{path.name}.{os.getpid()}.tmp"  # two runs may train the same cell at once
        torch.save({"epoch": epoch, **state}, tmp)
        tmp.replace(path)
    return save


def _epoch_loader(path: Path):
    def load() -> Optional[tuple[int, dict]]:
        if not path.exists():
            return None
        try:  # our own file, but still never a full unpickle
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            path.unlink(missing_ok=True)
            return None
        return int(state.pop("epoch")), state
    return load


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    return str(obj)


# --------------------------------------------------------------------------- evaluation helpers
def eval_subset(ctx: RunContext, cell: TrainCell) -> tuple[torch.Tensor, torch.Tensor]:
    data = ctx.dataset(cell.dataset)
    return data.x_test[:ctx.eval_n], data.y_test[:ctx.eval_n]


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Arg-max predictions (N,) on CPU, computed in batches in eval mode."""
    model.eval()
    out = [model(x[i:i + batch_size].to(device)).argmax(dim=1).cpu() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def clean_correct(ctx: RunContext, cell: TrainCell, model: nn.Module) -> torch.Tensor:
    x, y = eval_subset(ctx, cell)
    return predict(model, x, ctx.work_batch, ctx.device) == y


# --------------------------------------------------------------------------- clean
def clean_key(ctx: RunContext, cell: CleanCell) -> str:
    parts = {"train": train_key(ctx, cell.train), "n": ctx.eval_n, "batch": ctx.eval_batch}
    if ctx.amp_dtype is not None:
        parts["amp"] = str(ctx.amp_dtype)
    return cell_key("clean", parts)


def run_clean(ctx: RunContext, cell: CleanCell) -> dict:
    """Clean accuracy on the evaluation subset, by the runner's own forward pass."""
    key = clean_key(ctx, cell)
    rec = cached(ctx, key, ARTIFACT_FIELDS["clean"])
    if rec is not None:
        return rec
    model, _ = run_train(ctx, cell.train)
    with ctx.autocast():  # clean inference only; attacks and robust scoring always run in full precision
        correct = clean_correct(ctx, cell.train, model)
    n = max(1, int(correct.shape[0]))
    payload = {"clean_accuracy": int(correct.sum()) / n,
               "arrays": ctx.cache.put_tensors({"clean_correct": correct.to(torch.uint8)})}
    rec = ctx.store.put_cell(key, "clean", cell.cell_id, "ok", payload, meta_for(ctx, cell))
    ctx.computed.append(key)
    return rec


# --------------------------------------------------------------------------- attack
def attack_key(ctx: RunContext, cell: AttackCell) -> str:
    parts = {"train": train_key(ctx, cell.train), "attack": cell.attack.describe(),
             "threat": cell.threat.model_dump(mode="json"), "n": ctx.eval_n, "batch": ctx.eval_batch}
    if cell.substitute is not None:
        parts["substitute"] = train_key(ctx, cell.substitute)
    if ctx.compile is not None:  # compiled kernels may round differently: another cell
        parts["compile"] = ctx.compile
    if cell.reuse_from is not None:  # examples fooled there are not attacked again
        parts["reuse_from"] = attack_key(ctx, cell.reuse_from)
    return cell_key("attack", parts)


def batch_seed(seed: int, offset: int) -> int:
    """The attack seed for the batch starting at example ``offset`` (batch 0 keeps ``seed``)."""
    return seed if offset == 0 else (seed * 1_000_003 + offset) % (2**63 - 1)


def target_labels(y: torch.Tensor, num_classes: int, seed: int) -> torch.Tensor:
    """Targets for targeted threat models: a uniformly drawn class other than the true one."""
    gen = torch.Generator().manual_seed(seed)
    shift = torch.randint(1, num_classes, y.shape, generator=gen)
    return (y + shift) % num_classes


def _attack_batch(ctx: RunContext, attack: Any, source: nn.Module, x: torch.Tensor, y: torch.Tensor,
                  threat: Any, target: Optional[torch.Tensor]) -> Any:
    """One batch through the attack, on the compiled model with ``--compile``."""
    if ctx.compile is None:
        return attack(source, x, y, threat, target=target)
    import torch._dynamo.exc

    try:
        return attack(ctx.attack_model(source), x, y, threat, target=target)
    except torch._dynamo.exc.BackendCompilerFailed as exc:
        raise UsageError(f"--compile {ctx.compile} could not compile this model ({exc}); run without "
                         f"--compile, or with --compile aot_eager to check the model traces") from exc


def _smaller_eps_result(ctx: RunContext, cell: AttackCell) -> tuple[Optional[torch.Tensor], dict[str, torch.Tensor]]:
    """With ``eval.reuse_smaller_eps``: the examples the same attack already fooled at the next
    smaller eps (N,) bool, and that cell's arrays; ``(None, {})`` otherwise."""
    if cell.reuse_from is None:
        return None, {}
    prev = run_attack(ctx, cell.reuse_from)
    if prev["status"] != "ok":
        raise RobarenaError(f"the same attack at eps {cell.reuse_from.threat.eps:g} failed, and this cell reuses "
                            f"its results (eval.reuse_smaller_eps): {prev.get('error')}")
    arrays = ctx.cache.get_tensors(prev["payload"]["arrays"])
    return arrays["robust_correct"] == 0, arrays


def run_attack(ctx: RunContext, cell: AttackCell) -> dict:
    key = attack_key(ctx, cell)
    rec = cached(ctx, key, ARTIFACT_FIELDS["attack"])
    if rec is not None:
        return rec
    model, _ = run_train(ctx, cell.train)
    source = model  # the model the attack sees: the row's own, or a substitute (black-box transfer)
    if cell.substitute is not None:
        source, _ = run_train(ctx, cell.substitute)
    data = ctx.dataset(cell.train.dataset)
    x, y = eval_subset(ctx, cell.train)
    done, prev = _smaller_eps_result(ctx, cell)  # fooled at a smaller eps: keep that example, attack the rest
    impl = cell.attack.entry.load()
    attack = impl(config=impl.Config(**cell.attack.kwargs), seed=cell.train.seed)
    target = target_labels(y, data.num_classes, cell.train.seed) if cell.threat.targeted else None
    start = time.perf_counter()
    x_adv = prev["x_adv"].clone() if done is not None else x.clone()
    extras: dict[str, torch.Tensor] = {}
    bs = ctx.work_batch  # the suite's batch, or less after an out-of-memory retry
    for i in range(0, x.shape[0], bs):  # the same batches and seeds with or without reuse
        rows = torch.arange(i, min(i + bs, x.shape[0]))
        if done is not None:
            rows = rows[~done[rows]]
            if rows.numel() == 0:
                continue
        xb, yb = x[rows].to(ctx.device), y[rows].to(ctx.device)
        tb = target[rows].to(ctx.device) if target is not None else None
        attack.seed = batch_seed(cell.train.seed, i)  # distinct random starts per batch
        out = _attack_batch(ctx, attack, source, xb, yb, cell.threat, tb)
        x_adv[rows] = out.x_adv.cpu()
        for name, value in out.extras.items():
            value = value.detach().cpu()
            if name not in extras:  # reused rows keep the smaller eps's value where it has one
                old = prev.get(f"extra_{name}")
                extras[name] = old.clone() if old is not None and old.shape[1:] == value.shape[1:] else \
                    torch.full((x.shape[0], *value.shape[1:]), float("nan") if value.is_floating_point() else 0,
                               dtype=value.dtype)
            extras[name][rows] = value.to(extras[name].dtype)
    seconds = time.perf_counter() - start
    clean_ok = clean_correct(ctx, cell.train, model)
    adv_pred = predict(model, x_adv, bs, ctx.device)
    robust = clean_ok & (adv_pred == y)
    if done is not None:
        robust &= ~done  # fooled at a smaller eps is fooled here (its example lies in this ball too)
    arrays = {"x_adv": x_adv, "robust_correct": robust.to(torch.uint8), "adv_pred": adv_pred}
    if target is not None:
        arrays["target"] = target
    arrays.update({f"extra_{k}": v for k, v in extras.items()})
    n = max(1, int(y.shape[0]))
    payload = {"arrays": ctx.cache.put_tensors(arrays), "robust_accuracy": int(robust.sum()) / n,
               "clean_accuracy": int(clean_ok.sum()) / n, "seconds": round(seconds, 3)}
    if done is not None:
        payload["reused_smaller_eps"] = int(done.sum())
    if target is not None:
        payload["target_success"] = int((adv_pred == target).sum()) / n
    rec = ctx.store.put_cell(key, "attack", cell.cell_id, "ok", payload, meta_for(ctx, cell))
    ctx.computed.append(key)
    return rec


# --------------------------------------------------------------------------- probe
def probe_key(ctx: RunContext, cell: ProbeCell) -> str:
    return cell_key("probe", {"train": train_key(ctx, cell.train), "probe": cell.probe.describe(),
                              "n": ctx.eval_n, "attacks": [attack_key(ctx, a) for a in cell.attacks]})


def run_probe(ctx: RunContext, cell: ProbeCell) -> dict:
    key = probe_key(ctx, cell)
    rec = cached(ctx, key, ARTIFACT_FIELDS["probe"])
    if rec is not None:
        return rec
    model, _ = run_train(ctx, cell.train)
    data = ctx.dataset(cell.train.dataset)
    x, y = eval_subset(ctx, cell.train)
    spec = cell.probe.entry.spec
    attacks = {}
    for a in cell.attacks:
        arec = run_attack(ctx, a)
        if arec["status"] != "ok":
            raise RobarenaError(f"attack cell {a.column!r} this probe needs failed: {arec['error']}")
        attacks[a.column] = AttackRecord(ctx.cache.get_tensors(arec["payload"]["arrays"])["x_adv"].to(ctx.device),
                                         a.threat, transfer=a.substitute is not None)
    pin = ProbeInput(x=x.to(ctx.device), y=y.to(ctx.device), num_classes=data.num_classes, device=ctx.device,
                     attacks=attacks, batch_size=ctx.work_batch)
    if spec.needs_train:
        pin.x_train, pin.y_train = data.x_train.to(ctx.device), data.y_train.to(ctx.device)
    impl = cell.probe.entry.load()
    start = time.perf_counter()
    result = impl(config=impl.Config(**cell.probe.kwargs), seed=cell.train.seed)(model, pin)
    missing = sorted(set(spec.columns) - set(result.scalars))
    if missing:
        raise RobarenaError(f"probe {cell.probe.qid} did not return its declared columns {missing}")
    import numpy as np

    payload = {"scalars": result.scalars, "flags": result.flags, "seconds": round(time.perf_counter() - start, 3),
               "arrays": ctx.cache.put_arrays({k: np.asarray(v) for k, v in result.arrays.items()})
               if result.arrays else None}
    rec = ctx.store.put_cell(key, "probe", cell.cell_id, "ok", payload, meta_for(ctx, cell))
    ctx.computed.append(key)
    return rec


# --------------------------------------------------------------------------- task
def task_key(ctx: RunContext, cell: TaskCell) -> str:
    parts = {"train": train_key(ctx, cell.train), "task": cell.task.describe()}
    deps = task_dependencies(ctx, cell)
    if deps:  # only then: tasks without dependencies keep their keys
        parts["dependencies"] = deps
    return cell_key("task", parts)


def task_dependencies(ctx: RunContext, cell: TaskCell) -> dict[str, Any]:
    """The configured task's :meth:`~bench.api.task.Task.dependencies`, its components with their versions."""
    impl = cell.task.entry.load()
    out: dict[str, Any] = {}
    for dep in impl(config=impl.Config(**cell.task.kwargs), seed=cell.train.seed).dependencies():
        comps = {}
        for role, (kind, ident) in sorted(dep.components.items()):
            entry = ctx.registry.get(kind, ident)
            comps[role] = {"id": entry.qualified_id, "version": entry.version,
                           "dist": entry.plugin.distribution, "dist_version": entry.plugin.version}
        out[dep.name] = {"components": comps, "settings": dep.settings}
    return out


def run_task(ctx: RunContext, cell: TaskCell) -> dict:
    key = task_key(ctx, cell)
    rec = cached(ctx, key, ARTIFACT_FIELDS["task"])
    if rec is not None:
        return rec
    model, _ = run_train(ctx, cell.train)
    data = ctx.dataset(cell.train.dataset)

    def load_dataset(ident: str, params: dict) -> DatasetSplits:
        from bench.runner.plan import Component, validate_params

        entry = ctx.registry.get("dataset", ident)
        return ctx.dataset(Component(entry, validate_params(entry, params), entry.spec.name))

    impl = cell.task.entry.load()
    start = time.perf_counter()
    task = impl(config=impl.Config(**cell.task.kwargs), seed=cell.train.seed)
    result = task(model, TaskInput(data=data, device=ctx.device, load_dataset=load_dataset, progress=ctx.progress))
    missing = sorted(set(declared_columns(task, cell.task.entry.spec.columns)) - set(result.metrics))
    if missing:
        raise RobarenaError(f"task {cell.task.qid} did not return its declared columns {missing}")
    artifacts = {}
    for name, value in result.artifacts.items():
        artifacts[name] = ctx.cache.put_bytes(bytes(value)) if isinstance(value, (bytes, bytearray)) \
            else ctx.cache.put_arrays({name: value})
    payload = {"metrics": result.metrics, "artifacts": artifacts, "seconds": round(time.perf_counter() - start, 3)}
    rec = ctx.store.put_cell(key, "task", cell.cell_id, "ok", payload, meta_for(ctx, cell))
    ctx.computed.append(key)
    return rec


# --------------------------------------------------------------------------- keys and metadata of any cell
Cell = Union[TrainCell, CleanCell, AttackCell, ProbeCell, TaskCell]
LABEL_FIELDS = ("row_id", "dataset", "model", "defense", "column", "attack", "probe", "task", "threat",
                "needs_gradients", "attack_params")


def lookup(ctx: RunContext, cell: Cell) -> Optional[dict]:
    """The cell's stored ok record if its artifacts verify, without computing anything (else None)."""
    return cached(ctx, key_for(ctx, cell), ARTIFACT_FIELDS[stage_of(cell)])


def key_for(ctx: RunContext, cell: Cell) -> str:
    if isinstance(cell, TrainCell):
        return train_key(ctx, cell)
    if isinstance(cell, CleanCell):
        return clean_key(ctx, cell)
    if isinstance(cell, AttackCell):
        return attack_key(ctx, cell)
    if isinstance(cell, ProbeCell):
        return probe_key(ctx, cell)
    return task_key(ctx, cell)


def stage_of(cell: Cell) -> str:
    return {TrainCell: "train", CleanCell: "clean", AttackCell: "attack", ProbeCell: "probe",
            TaskCell: "task"}[type(cell)]


def cell_id_of(cell: Cell) -> str:
    return cell.row_id if isinstance(cell, TrainCell) else cell.cell_id


def refresh_labels(ctx: RunContext, cell: Cell, rec: dict) -> dict:
    """Labels are not part of a cache key: give a cached record this suite's labels (stored too)."""
    current = meta_for(ctx, cell)
    stale = {k: current[k] for k in LABEL_FIELDS if k in current and rec["meta"].get(k) != current[k]}
    if not stale or rec["status"] != "ok":
        return rec
    rec = {**rec, "meta": {**rec["meta"], **stale}, "cell_id": cell_id_of(cell)}
    ctx.store.update_labels(rec["key"], rec["cell_id"], rec["meta"])
    return rec


def meta_for(ctx: RunContext, cell: Cell) -> dict:
    """Provenance and labels stored with a cell's record (ok or failed alike)."""
    train = cell if isinstance(cell, TrainCell) else cell.train
    data = ctx.dataset(train.dataset)
    comps = [train.dataset, train.model, train.defense]
    extra = _labels(train)
    n = min(ctx.eval_n, len(data.y_test))
    if isinstance(cell, AttackCell):
        comps.append(cell.attack)
        if cell.substitute is not None:
            comps += [cell.substitute.model, cell.substitute.defense]
            extra["substitute"] = f"{cell.substitute.model.qid} trained by {cell.substitute.defense.qid}"
        extra.update(column=cell.column, threat=cell.threat.label, threat_norm=cell.threat.norm,
                     threat_eps=cell.threat.eps, attack=cell.attack.label,
                     needs_gradients=cell.attack.entry.spec.needs_gradients, attack_params=dict(cell.attack.kwargs))
    elif isinstance(cell, ProbeCell):
        comps += [cell.probe] + [a.attack for a in cell.attacks]
        extra["probe"] = cell.probe.label
    elif isinstance(cell, TaskCell):
        comps.append(cell.task)
        extra["task"] = cell.task.label
        deps = task_dependencies(ctx, cell)
        if deps:
            extra["dependencies"] = deps
    if ctx.work_batch != ctx.eval_batch:  # an out-of-memory retry: random starts follow the smaller batches
        extra["batch_size_used"] = ctx.work_batch
    meta = base_meta(ctx, train.row_id, stage_of(cell), comps, data, train.seed, n, extra)
    for dep in extra.get("dependencies", {}).values():  # a task's dependencies join the row's versions
        for comp in dep["components"].values():
            meta["specs"][comp["id"]] = comp["version"]
            meta["plugins"][comp["dist"]] = comp["dist_version"]
    return meta


def fallback_meta(ctx: RunContext, cell: Cell) -> dict:
    """Metadata for a cell whose inputs could not even be loaded (no data fingerprint)."""
    train = cell if isinstance(cell, TrainCell) else cell.train
    meta = {"row_id": train.row_id, "stage": stage_of(cell), "seed": train.seed, "n": 0, "fingerprint": "unavailable",
            "specs": {}, "plugins": {}, **ctx.environment(), **_labels(train)}
    if isinstance(cell, AttackCell):
        meta.update(column=cell.column, threat=cell.threat.label, threat_norm=cell.threat.norm,
                    threat_eps=cell.threat.eps, attack=cell.attack.label,
                    needs_gradients=cell.attack.entry.spec.needs_gradients)
    elif isinstance(cell, ProbeCell):
        meta["probe"] = cell.probe.label
    elif isinstance(cell, TaskCell):
        meta["task"] = cell.task.label
    return meta
