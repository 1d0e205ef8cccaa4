"""Everything a run shares: registry, store, cache, device, loaded datasets and models."""
from __future__ import annotations

import contextlib
import json
import platform
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from bench import __version__
from bench.api.data import DatasetSplits
from bench.errors import UsageError
from bench.registry import Registry
from bench.runner.plan import Component
from bench.store.cache import ArtifactCache
from bench.store.results import ResultsStore


def resolve_device(device: str, require_local: bool = True) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``; ``cuda`` or ``cuda:N``.

    ``require_local=False`` (a Ray cluster's workers hold the GPUs) accepts ``cuda`` on a
    driver without CUDA; the workers check it.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and require_local and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but CUDA is not available; use --device cpu or auto")
    if dev.type not in {"cpu", "cuda"}:
        raise UsageError(f"device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    return dev


@dataclass
class RunContext:
    registry: Registry
    workdir: Path
    device: torch.device
    progress: bool = True
    eval_n: int = 500
    eval_batch: int = 256
    debug: bool = False
    amp: bool = False  # bf16 autocast for training and clean inference, CUDA only (see amp_dtype)
    channels_last: bool = False  # channels_last memory format for models, CUDA only
    compile: Optional[str] = None  # torch.compile backend for the models attacks run on (--compile)
    batch_limit: Optional[int] = None  # set by the out-of-memory retry: evaluation batches no larger than this
    store: ResultsStore = field(init=False)
    cache: ArtifactCache = field(init=False)
    datasets: dict[Any, DatasetSplits] = field(default_factory=dict)
    models: dict[str, torch.nn.Module] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    keys: dict[int, tuple[Any, str, dict]] = field(default_factory=dict)  # id(cell) -> (cell, key, parts): Stage.key
    _compiled: dict[int, tuple[torch.nn.Module, torch.nn.Module]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store = ResultsStore(self.workdir / "results.sqlite")
        self.cache = ArtifactCache(self.workdir / "cache")

    def dataset(self, comp: Component) -> DatasetSplits:
        key = (comp.qid, json.dumps(comp.kwargs, sort_keys=True))  # params may hold lists
        if key not in self.datasets:
            impl = comp.entry.load()
            self.datasets[key] = impl(impl.Config(**comp.kwargs))()
        return self.datasets[key]

    def environment(self) -> dict[str, str]:
        env = {"core_version": __version__, "torch": torch.__version__, "platform": platform.platform(),
               "device": str(self.device)}
        if self.amp_dtype is not None:  # only when on, so default runs keep their metadata
            env["amp"] = str(self.amp_dtype).removeprefix("torch.")
        if self.uses_channels_last:
            env["memory_format"] = "channels_last"
        if self.compile is not None:
            env["compile"] = self.compile
        return env

    # ------------------------------------------------------------------ batches and device options
    @property
    def work_batch(self) -> int:
        """The evaluation batch actually used: the suite's, or less after an out-of-memory retry."""
        return min(self.eval_batch, self.batch_limit) if self.batch_limit else self.eval_batch

    @property
    def amp_dtype(self) -> Optional[torch.dtype]:
        """bf16 when ``amp`` is on and the device is CUDA, else None (it is part of cache keys).

        Only bf16: fp16 training needs loss scaling, which the defenses' loops do not do.
        """
        return torch.bfloat16 if self.amp and self.device.type == "cuda" else None

    @property
    def uses_channels_last(self) -> bool:
        return self.channels_last and self.device.type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for training forward passes and clean inference; a no-op unless ``amp_dtype``.
        Never used for attacks or for scoring adversarial examples."""
        dtype = self.amp_dtype
        if dtype is None:
            return contextlib.nullcontext()
        if not torch.cuda.is_bf16_supported():
            raise UsageError("--amp uses bf16 autocast, which this GPU does not support (it needs compute "
                             "capability 8.0 or newer); run without --amp")
        return torch.autocast("cuda", dtype=dtype)

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """Apply the model memory format (channels_last on CUDA); unchanged otherwise."""
        return model.to(memory_format=torch.channels_last) if self.uses_channels_last else model

    def attack_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model attacks run on: ``torch.compile(model, backend=compile, dynamic=True)`` with
        ``--compile``, else ``model``. Dynamic shapes, because an attack's working batch shrinks as
        examples are fooled; one compiled wrapper per model for the whole run."""
        if self.compile is None:
            return model
        if id(model) not in self._compiled:  # the model is kept beside its wrapper, so its id stays unique
            self._compiled[id(model)] = (model, torch.compile(model, backend=self.compile, dynamic=True))
        return self._compiled[id(model)][1]

    def option_notes(self) -> list[str]:
        """Why a requested device option has no effect here (printed as warnings by ``run``)."""
        notes = []
        if self.amp and self.device.type != "cuda":
            notes.append(f"--amp is CUDA-only; ignored on {self.device}")
        if self.channels_last and self.device.type != "cuda":
            notes.append(f"--channels-last is CUDA-only; ignored on {self.device}")
        return notes

    def warn_ignored_options(self) -> None:
        for note in self.option_notes():
            warnings.warn(note, RuntimeWarning, stacklevel=3)

    def close(self) -> None:
        self.store.close()


def check_compile_backend(backend: Optional[str]) -> None:
    """Refuse an unknown ``--compile`` backend before anything runs."""
    if backend is None:
        return
    import torch._dynamo

    if backend not in torch._dynamo.list_backends(exclude_tags=()):
        usual = sorted(set(torch._dynamo.list_backends()) | {"aot_eager", "eager"})  # without debug/test backends
        raise UsageError(f"--compile {backend!r}: not a torch.compile backend here; use one of "
                         f"{', '.join(usual)} (inductor is torch's default)")


def base_meta(ctx: RunContext, row_id: str, stage: str, components: list[Optional[Component]],
              data: DatasetSplits, seed: int, n: int, extra: Optional[dict] = None) -> dict:
    comps = [c for c in components if c is not None]
    meta = {
        "row_id": row_id, "stage": stage, "seed": seed, "n": n, "fingerprint": data.fingerprint,
        "specs": {c.qid: c.entry.version for c in comps},
        "plugins": {c.entry.plugin.distribution: c.entry.plugin.version for c in comps},
        **ctx.environment(),
    }
    meta.update(extra or {})
    return meta
