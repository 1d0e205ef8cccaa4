"""Everything a run shares: registry, store, cache, device, loaded datasets and models."""
from __future__ import annotations

import json
import platform
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


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``; ``cuda`` or ``cuda:N``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
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
    store: ResultsStore = field(init=False)
    cache: ArtifactCache = field(init=False)
    datasets: dict[Any, DatasetSplits] = field(default_factory=dict)
    models: dict[str, torch.nn.Module] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)

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
        return {"core_version": __version__, "torch": torch.__version__, "platform": platform.platform(),
                "device": str(self.device)}

    def close(self) -> None:
        self.store.close()


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
