"""Per-example outcomes of a stored run, one record per (row, evaluation example), as lm-eval's
sample logs: ``robarena export-examples`` writes them as JSON lines, ``bench.examples`` yields them.

From the store (no model needed): the true label, whether the clean model was right
(``clean_correct``, the clean cell's array), and per attack cell whether the example stayed
``robust`` (the attack cell's ``robust_correct``), was ``fooled`` (clean-correct and not robust),
the adversarial prediction ``adv_pred`` and the perturbation ``distance`` ``||x_adv - x||`` in the
threat's norm (Linf for unbounded), with ``x`` the dataset's test example. Per threat model the
worst case ``robust`` (robust against every attack at that threat). With ``margins=True`` the
model is rebuilt (:mod:`bench.runner.restore`) and run once over the clean examples and once over
each attack's ``x_adv``, batched, without gradients, to give ``clean_pred``, ``clean_margin`` and each
attack's ``margin``: logit of the true class minus the largest other logit (negative: misclassified).
That costs ``n x (1 + attacks)`` forward passes per row, far less than the attacks did.
"""
from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Union

from bench.errors import LeaderboardError, UsageError
from bench.rows.labels import attack_column, threat_label
from bench.rows.schema import AttackResult, Row
from bench.runner.stored import PathLike, StoredRun

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


def _number(value: Any) -> Optional[float]:
    value = float(value)
    return value if math.isfinite(value) else None


def true_class_margin(logits: "torch.Tensor", y: "torch.Tensor") -> "torch.Tensor":
    """(N,) logit of the true class minus the largest other logit."""
    import torch

    true = logits.gather(1, y.view(-1, 1)).squeeze(1)
    others = logits.scatter(1, y.view(-1, 1), float("-inf"))
    return true - others.amax(dim=1) if logits.shape[1] > 1 else torch.full_like(true, float("inf"))


def _logits(model: "nn.Module", x: "torch.Tensor", batch_size: int, device: Any) -> "torch.Tensor":
    import torch

    with torch.inference_mode():
        out = [model(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out)


def distances(x_adv: "torch.Tensor", x: "torch.Tensor", norm: str) -> "torch.Tensor":
    """(N,) ``||x_adv - x||`` in ``norm`` (L2, else Linf)."""
    delta = (x_adv - x).flatten(1).double()
    return delta.norm(p=2, dim=1) if norm == "L2" else delta.abs().amax(dim=1)


def _attack_fields(a: AttackResult) -> dict[str, Any]:
    out = {"attack_id": a.attack_id, "label": a.label, "params": dict(a.params), "norm": a.threat.norm,
           "eps": a.threat.eps, "eps_display": a.threat.eps_display, "targeted": a.threat.targeted}
    if a.substitute is not None:
        out["substitute"] = a.substitute
    return out


class _RowExamples:
    """The per-example arrays of one row, read from the store (and the model's logits if asked)."""

    def __init__(self, run: StoredRun, row: Row, loader: Any, want_margins: bool, batch_size: int) -> None:
        cache = run_cache(run)
        train = run.train_record(row)
        data = loader.data(train)
        clean = run.stage_records(row, "clean")
        n = int(next((r["meta"]["n"] for r in run.records[row.row_id] if r["stage"] in ("clean", "attack")), 0))
        self.x, self.y = data.x_test[:n], data.y_test[:n]
        self.clean_correct = None
        if clean and clean[0]["status"] == "ok":
            self.clean_correct = cache.get_tensors(clean[0]["payload"]["arrays"])["clean_correct"].bool()
        records = run.stage_records(row, "attack")
        if [r["meta"]["attack"] for r in records] != [a.label for a in row.attacks]:
            raise LeaderboardError(f"row {row.row_id!r}: its attack records and results disagree; re-run the suite")
        self.attacks: list[tuple[AttackResult, Optional[dict]]] = []
        for rec, result in zip(records, row.attacks):
            arrays = cache.get_tensors(rec["payload"]["arrays"]) if rec["status"] == "ok" else None
            if arrays is not None:
                if arrays["x_adv"].shape != self.x.shape:
                    raise LeaderboardError(f"row {row.row_id!r}: stored x_adv of {attack_column(result)} has shape "
                                           f"{tuple(arrays['x_adv'].shape)}, the data {tuple(self.x.shape)}")
                arrays["distance"] = distances(arrays["x_adv"], self.x, result.threat.norm)
            self.attacks.append((result, arrays))
        self.clean_pred = self.clean_margin = None
        if want_margins:
            model = loader.model(train)
            device = loader.ctx.device
            logits = _logits(model, self.x, batch_size, device)
            self.clean_pred, self.clean_margin = logits.argmax(dim=1), true_class_margin(logits, self.y)
            for _result, arrays in self.attacks:
                if arrays is not None:
                    arrays["margin"] = true_class_margin(_logits(model, arrays["x_adv"], batch_size, device), self.y)
        self._lists()

    def _lists(self) -> None:
        """Per-example values as Python lists (indexing a tensor per example and field is slow)."""
        self.labels = self.y.tolist()
        for name in ("clean_correct", "clean_pred", "clean_margin"):
            value = getattr(self, name)
            setattr(self, name, None if value is None else value.tolist())
        for _result, arrays in self.attacks:
            if arrays is not None:
                for name in ("robust_correct", "adv_pred", "distance", "margin", "target"):
                    if name in arrays:
                        arrays[name] = arrays[name].tolist()

    def record(self, i: int) -> dict[str, Any]:
        y = int(self.labels[i])
        clean_ok = None if self.clean_correct is None else bool(self.clean_correct[i])
        out: dict[str, Any] = {"index": i, "label": y, "clean_correct": clean_ok,
                               "clean_pred": None if self.clean_pred is None else int(self.clean_pred[i]),
                               "clean_margin": None if self.clean_margin is None else _number(self.clean_margin[i])}
        attacks: dict[str, dict[str, Any]] = {}
        by_threat: dict[Any, list[Optional[bool]]] = defaultdict(list)
        for result, arrays in self.attacks:
            entry = _attack_fields(result)
            if arrays is None:
                entry.update(status="failed", robust=None, fooled=None, adv_pred=None, distance=None, margin=None)
            else:
                robust = bool(arrays["robust_correct"][i])
                entry.update(status="ok", robust=robust, fooled=None if clean_ok is None else clean_ok and not robust,
                             adv_pred=int(arrays["adv_pred"][i]), distance=_number(arrays["distance"][i]),
                             margin=_number(arrays["margin"][i]) if "margin" in arrays else None)
                if "target" in arrays:
                    entry["target"] = int(arrays["target"][i])
            attacks[attack_column(result)] = entry
            by_threat[result.threat].append(entry["robust"])
        out["attacks"] = attacks
        out["worst_case"] = {threat_label(t): {"norm": t.norm, "eps": t.eps, "targeted": t.targeted,
                                               "robust": None if None in found else all(found)}
                             for t, found in sorted(by_threat.items(), key=lambda kv: threat_label(kv[0]))}
        return out


def run_cache(run: StoredRun) -> Any:
    from bench.store.cache import ArtifactCache

    return ArtifactCache(run.workdir / "cache")


def examples(suite: Optional[PathLike] = None, row: Union[str, Row, None] = None, workdir: PathLike = ".robarena",
             margins: bool = True, device: str = "cpu", batch_size: int = 256, plugins: Iterable[str] = (),
             trust_modules: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
    """One record per (row, evaluation example) of the latest finished run of ``suite`` in ``workdir``
    (every row, or only ``row``: an id, a unique substring of one, or a Row). ``margins=False`` reads
    the store only (no model, no forward pass; ``clean_pred`` and margins are None). Rows whose
    training failed have no examples and are skipped (an error when ``row`` names one)."""
    if batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, got {batch_size}")
    if isinstance(row, Row) and suite is None:
        suite = row.provenance.suite
    run = StoredRun.open(workdir, suite)  # bad suites and rows fail here, before the first record
    if row is not None:
        rows = [run.row(row)]
        run.train_record(rows[0])  # the row named has a trained model
    else:
        rows = [r for r in run.rows if any(t["status"] == "ok" for t in run.stage_records(r, "train"))]
    return _generate(run, rows, margins, device, batch_size, tuple(plugins), tuple(trust_modules))


def _generate(run: StoredRun, rows: list[Row], margins: bool, device: str, batch_size: int,
              plugins: tuple[str, ...], trust_modules: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    from bench.runner.models import trusting
    from bench.runner.restore import ModelLoader

    with trusting(trust_modules), ModelLoader(run, device, plugins) as loader:
        for r in rows:
            found = _RowExamples(run, r, loader, margins, batch_size)
            for i in range(int(found.y.shape[0])):
                yield {"suite": run.suite, "row_id": r.row_id, **found.record(i)}


def export_examples(out: PathLike, suite: Optional[PathLike] = None, row: Union[str, Row, None] = None,
                    **kwargs: Any) -> int:
    """Write :func:`examples` as JSON lines to ``out`` (``"-"``: standard output); returns the line count."""
    target = sys.stdout if str(out) == "-" else None
    if target is None and Path(out).is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name such as examples.jsonl")
    count = 0
    lines = examples(suite, row, **kwargs)
    if target is not None:
        for rec in lines:
            target.write(json.dumps(rec, allow_nan=False) + "\n")
            count += 1
        return count
    path = Path(out)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for rec in lines:
                fh.write(json.dumps(rec, allow_nan=False) + "\n")
                count += 1
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {out}: {exc.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
