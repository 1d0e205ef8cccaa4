"""Build classifiers: registered architectures, ``timm/<name>``, or a user's ``module:factory``,
and load checkpoints safely (safetensors, or torch's weights-only loader; never a raw pickle)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from bench.api.model import Classifier, WrappedClassifier
from bench.errors import UnsafeCheckpointError, UsageError
from bench.registry import Registry, resolve_target


def build_registered(entry: Any, params: dict, input_shape: Sequence[int], num_classes: int) -> nn.Module:
    impl = entry.load()
    config = impl.Config(**params) if hasattr(impl, "Config") else None
    return impl(input_shape=tuple(input_shape), num_classes=num_classes, config=config)


def build_arch(arch: str, registry: Registry, input_shape: Sequence[int], num_classes: int,
               params: Optional[dict] = None, mean: Optional[list[float]] = None,
               std: Optional[list[float]] = None) -> nn.Module:
    """``arch`` is a registered model id, ``timm/<name>`` or ``package.module:factory``."""
    params = dict(params or {})
    if arch.startswith("timm/"):
        import timm

        name = arch[len("timm/"):]
        if not timm.is_model(name):
            raise UsageError(f"timm has no architecture {name!r}; see timm.list_models()")
        module = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=input_shape[0], **params)
        return WrappedClassifier(module, input_shape, num_classes, mean, std)
    if ":" in arch:
        factory = resolve_target(arch, what=f"architecture {arch!r}")
        module = factory(**params)
        if not isinstance(module, nn.Module):
            raise UsageError(f"{arch} returned {type(module).__name__}, expected a torch.nn.Module")
        if isinstance(module, Classifier) and mean is None and std is None:
            return module
        return WrappedClassifier(module, input_shape, num_classes, mean, std)
    model = build_registered(registry.get("model", arch), params, input_shape, num_classes)
    if mean is not None or std is not None:
        raise UsageError("mean/std apply to timm or module:factory architectures; registered models normalize inside")
    return model


def load_state(path: str) -> dict[str, torch.Tensor]:
    """Read a checkpoint without executing code: safetensors, or ``torch.load(weights_only=True)``."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"checkpoint {path!r} does not exist")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except Exception as exc:
            raise UnsafeCheckpointError(f"checkpoint {path!r} is not a valid safetensors file: {exc}") from None
    try:
        state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle with code, or garbage: refuse, never fall back to full unpickling
        raise UnsafeCheckpointError(
            f"refusing to load {path!r}: it is not a weights-only checkpoint (it holds pickled objects other than "
            f"tensors, or is not a torch file: {type(exc).__name__}). robarena never unpickles arbitrary code. "
            "Save a state_dict with safetensors.torch.save_file(model.state_dict(), 'model.safetensors') "
            "or torch.save(model.state_dict(), path)"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(f"checkpoint {path!r} must hold a state_dict (name -> tensor)")
    return state


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model`` (or its wrapped inner module), with a readable mismatch error."""
    targets = [model]
    if isinstance(model, WrappedClassifier):
        targets.insert(0, model.module)
    errors = []
    for target in targets:
        try:
            target.load_state_dict(state, strict=True)
            return
        except RuntimeError as exc:
            errors.append(str(exc).splitlines()[0])
    raise UsageError(f"checkpoint {source} does not match the architecture: {errors[0]}")
