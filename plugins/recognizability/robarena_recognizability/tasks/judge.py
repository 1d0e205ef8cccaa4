"""The judge of the recognizability task: an independent standard classifier (P3 Fig. 4.2 proxy).

P3 judges its unbounded perturbations by eye. As a number, the recognizability task asks a
classifier that had no part in the attack which class each perturbation shows. By default the
judge is a registered architecture trained by a registered defense (``classics/standard``:
cross-entropy, P3 Eq. 2.4) on the attacked model's own dataset, with its own seed and budget;
or a pretrained checkpoint of that architecture (safetensors or a weights-only torch file,
never unpickled). Trained judges are cached for the life of the process, keyed by the
dataset's fingerprint, the judge settings and the device, so a suite trains one judge for all
its models. :func:`judge_provenance` names the judge for the runner's cache key and records.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.api import DatasetSplits, TaskDependency, TrainContext
from bench.errors import UsageError
from bench.runner.keys import file_sha256

_CACHE: dict[tuple[str, str, str], nn.Module] = {}


def judge_provenance(config: Any) -> TaskDependency:
    """Which judge a :class:`RecognizabilityConfig` uses, as the runner keys and records it.

    ``"train"``: the judge's architecture and defense (their registered versions are added by the
    runner), its parameters, seed and training budget, and its data (the attacked model's own
    dataset, fingerprinted in the row's training key); ``"checkpoint"``: the architecture, its
    parameters and the weights file's sha256; ``"self"``: the attacked model.
    """
    if config.judge == "self":
        return TaskDependency("judge", settings={"judge": "self"})
    settings: dict[str, Any] = {"judge": config.judge, "model_params": config.judge_model_params}
    components = {"model": ("model", config.judge_model)}
    if config.judge == "checkpoint":
        path = Path(config.judge_checkpoint)
        if not path.is_file():
            raise UsageError(f"recognizability: judge_checkpoint {str(path)!r} does not exist; give the path of "
                             "the judge's weights (.safetensors or a weights-only .pt)")
        settings.update(checkpoint=str(path), checkpoint_sha256=file_sha256(str(path)))
    else:
        components["defense"] = ("defense", config.judge_defense)
        settings.update(seed=config.judge_seed, train=config.judge_train.model_dump(mode="json"),
                        data="the attacked model's dataset")
    return TaskDependency("judge", components=components, settings=settings)


def judge_key(data: DatasetSplits, settings: dict[str, Any], device: torch.device) -> tuple[str, str, str]:
    """Cache key: (data fingerprint, canonical JSON of the judge settings, device)."""
    return data.fingerprint, json.dumps(settings, sort_keys=True, default=str), str(device)


def build_judge(data: DatasetSplits, device: torch.device, *, model: str, model_params: dict[str, Any],
                defense: str, seed: int, train: Any, checkpoint: str | None, progress: bool = False) -> nn.Module:
    """Train (or load) the judge; returns it in eval mode on ``device``. Not cached (see :func:`get_judge`)."""
    from bench.registry import get_registry
    from bench.runner.models import build_registered, load_into, load_state

    registry = get_registry()
    model_entry = registry.get("model", model)  # unknown ids: UnknownComponentError with hints

    def build() -> nn.Module:
        return build_registered(model_entry, model_params, data.shape, data.num_classes)

    if checkpoint is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            judge = build()
        load_into(judge, load_state(checkpoint), checkpoint)
        return judge.to(device).eval()
    impl = registry.get("defense", defense).load()
    gen = torch.Generator(device=device).manual_seed(seed)
    ctx = TrainContext(device=device, seed=seed, generator=gen, progress=progress, description="train judge")
    return impl(config=impl.Config(), train=train)(build, data, ctx).eval()


def get_judge(data: DatasetSplits, device: torch.device, **settings: Any) -> nn.Module:
    """:func:`build_judge` through the process-wide cache (keyed by :func:`judge_key`)."""
    progress = settings.pop("progress", False)
    train = settings.get("train")
    key_settings = {**settings, "train": train.model_dump(mode="json") if train is not None else None}
    key = judge_key(data, key_settings, device)
    if key not in _CACHE:
        _CACHE[key] = build_judge(data, device, progress=progress, **settings)
    return _CACHE[key]


def clear_cache() -> None:
    """Forget every cached judge (tests)."""
    _CACHE.clear()
