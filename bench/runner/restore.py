"""Stored models back as modules: ``bench.load_model(row, suite=..., workdir=...)``.

The training cell is rebuilt from the row's stored training record (the dataset, model and
defense ids with their parameters, the training budget, or the brought architecture), so the
module is the one the train stage built, defense wrapper included (``defense.wrap``), and the
weights are its stored checkpoint, read from the artifact cache with its sha256 verified. The
dataset is loaded once (its shape and class count size the architecture; its fingerprint must
match the record's). Components whose installed code differs from the code that trained the
model load with a ``RuntimeWarning``; weights that do not fit the rebuilt module are an error.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

from bench.errors import CorruptArtifactError, LeaderboardError, UsageError
from bench.rows.schema import Row
from bench.runner.stored import PathLike, StoredRun

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from bench.api.data import DatasetSplits
    from bench.runner.plan import Component, TrainCell

#: parts of a training key that say which architecture was built (not how long it trained)
_ARCH_PARTS = ("dataset", "model", "defense", "pretrained")


def _component(registry: Any, kind: str, described: Optional[dict], meta: dict) -> "Component":
    """A plan component from the record: its key part (id and validated params) or, for records
    stored before key parts were kept, the ``<kind>_id`` / ``<kind>_params`` labels."""
    from bench.runner.plan import Component

    ident = described["id"] if described else meta.get(f"{kind}_id")
    params = described["params"] if described else meta.get(f"{kind}_params") or {}
    if not ident or ident.startswith("?"):
        raise LeaderboardError(f"row {meta.get('row_id')!r}: its training record does not say which {kind} it used")
    entry = registry.get(kind, ident)
    return Component(entry, tuple(sorted(params.items())), meta.get(kind) or entry.spec.name)


def train_cell(registry: Any, rec: dict) -> "TrainCell":
    """The training cell a stored training record was computed for."""
    from bench.config import TrainConfig
    from bench.runner.plan import TrainCell
    from bench.runner.suite import PretrainedRef

    meta = rec["meta"]
    parts = meta.get("key_parts") or {}
    dataset = _component(registry, "dataset", parts.get("dataset"), meta)
    if meta.get("defense_id") == "pretrained" or "pretrained" in parts:
        pre = parts.get("pretrained") or {"arch": meta["model_id"], "arch_params": meta.get("model_params") or {}}
        ref = PretrainedRef(label=meta.get("model", pre["arch"]), arch=pre["arch"], checkpoint="(stored)",
                            dataset=dataset.qid, dataset_params=dataset.kwargs, arch_params=pre["arch_params"],
                            mean=pre.get("mean"), std=pre.get("std"))  # mean/std are buffers: the weights hold them
        return TrainCell(dataset, None, None, int(meta["seed"]), None, ref, pre.get("checkpoint_sha256"))
    model = _component(registry, "model", parts.get("model"), meta)
    defense = _component(registry, "defense", parts.get("defense"), meta)
    train = TrainConfig(**parts["train"]) if "train" in parts else TrainConfig()  # wrap() does not read it
    return TrainCell(dataset, model, defense, int(meta["seed"]), train)


class ModelLoader:
    """Rebuilds the models and evaluation data of a stored run's rows (one registry and context)."""

    def __init__(self, run: StoredRun, device: str = "cpu", plugins: Iterable[str] = ()) -> None:
        from bench.registry import get_registry
        from bench.runner.context import RunContext, resolve_device

        self.run = run
        self.ctx = RunContext(registry=get_registry(tuple(plugins)), workdir=run.workdir,
                              device=resolve_device(device), progress=False)

    def close(self) -> None:
        self.ctx.close()

    def __enter__(self) -> "ModelLoader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def cell(self, rec: dict) -> "TrainCell":
        return train_cell(self.ctx.registry, rec)

    def data(self, rec: dict) -> "DatasetSplits":
        """The row's dataset, refused when its bytes differ from those the row was computed on."""
        data = self.ctx.dataset(self.cell(rec).dataset)
        if data.fingerprint != rec["meta"]["fingerprint"]:
            raise LeaderboardError(f"row {rec['meta']['row_id']!r} was computed on data with fingerprint "
                                   f"{rec['meta']['fingerprint']}, the installed dataset has {data.fingerprint}; "
                                   "its stored examples cannot be matched to today's data")
        return data

    def model(self, rec: dict) -> "nn.Module":
        """The trained model of a stored training record, in eval mode on the device."""
        from bench.runner.stages.train import TRAIN

        cell = self.cell(rec)
        self._warn_changed(cell, rec)
        try:
            return TRAIN.restore(self.ctx, cell, rec)
        except CorruptArtifactError as exc:
            raise CorruptArtifactError(f"{str(exc).split('; it will')[0]}; run the suite again to retrain "
                                       "it") from None
        except RuntimeError as exc:  # load_state_dict: the installed code builds another module
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LeaderboardError(f"row {rec['meta']['row_id']!r}: the stored weights do not fit the model the "
                                   f"installed plugins build ({first}); install the plugin versions in the "
                                   f"row's provenance") from None

    def _warn_changed(self, cell: "TrainCell", rec: dict) -> None:
        from bench.runner.stages.train import TRAIN

        stored = rec["meta"].get("key_parts")
        if not stored:
            return
        now = TRAIN.parts(self.ctx, cell)
        changed = [name for name in _ARCH_PARTS if name in stored and stored[name] != now.get(name)]
        if changed:
            warnings.warn(f"row {rec['meta']['row_id']!r}: the installed code of its {', '.join(changed)} differs "
                          "from the code that trained it; the model is rebuilt with the installed code",
                          RuntimeWarning, stacklevel=4)


def _record_of(run: StoredRun, row: Union[str, Row]) -> dict:
    """The training record of ``row``; for a Row object, the one holding the Row's own checkpoint."""
    found = run.row(row)
    rec = run.train_record(found)
    want = row.artifacts.get("checkpoint") if isinstance(row, Row) else None
    if want and rec["payload"].get("checkpoint") != want:
        rec = _record_by_checkpoint(run.workdir, want, found.row_id)
    return rec


def _record_by_checkpoint(workdir: Path, digest: str, row_id: str) -> dict:
    from bench.store.results import ResultsStore

    store = ResultsStore(workdir / "results.sqlite", readonly=True)
    try:
        for _key, _cell_id, rec, _problem in store.iter_cells():
            if rec and rec["stage"] == "train" and rec["status"] == "ok" and rec["payload"].get("checkpoint") == digest:
                return rec
    finally:
        store.close()
    raise LeaderboardError(f"row {row_id!r}: no training record in {workdir} holds its checkpoint {digest[:12]}; "
                           "pass the workdir the row was computed in")


def load_model(row: Union[str, Row], suite: Optional[PathLike] = None, workdir: PathLike = ".robarena",
               device: str = "cpu", plugins: Iterable[str] = (), trust_modules: Iterable[str] = ()) -> "nn.Module":
    """The trained model of ``row`` (a row id, a unique substring of one, or a :class:`Row`) from the
    latest finished run of ``suite`` in ``workdir``, in eval mode on ``device``.

    ``suite`` defaults to a Row's own suite, else to the only suite with a run in ``workdir``.
    ``plugins`` are ``-p`` options; ``trust_modules`` is ``--trust-module`` for ``module:factory``
    architectures. Nothing is trained: a row whose training failed or whose checkpoint is missing
    or corrupt is an error.
    """
    if isinstance(row, Row) and suite is None:
        suite = row.provenance.suite
    if not isinstance(row, (str, Row)):
        raise UsageError(f"row must be a row id or a bench Row, not {type(row).__name__}")
    from bench.runner.models import trusting

    run = StoredRun.open(workdir, suite)
    rec = _record_of(run, row)
    with trusting(trust_modules), ModelLoader(run, device, plugins) as loader:
        return loader.model(rec)
