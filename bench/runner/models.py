"""Build classifiers: registered architectures, ``timm/<name>``, or a user's ``module:factory``,
and load checkpoints safely (safetensors, or torch's weights-only loader; never a raw pickle)."""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import sysconfig
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from bench.api.model import Classifier, WrappedClassifier
from bench.errors import UnsafeCheckpointError, UsageError
from bench.registry import Registry, resolve_target


TRUSTED_MODULES_ENV = "ROBARENA_TRUSTED_MODULES"
_TIMM_LOADING_PARAMS = {"pretrained", "checkpoint_path", "pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"}


def check_factory(arch: str) -> None:
    """Refuse a ``module:factory`` a suite may not call (suites are data and must not run code).

    Allowed without asking: modules outside the Python installation (your project's code, an
    editable install). Refused: the standard library, built-in modules and packages installed
    in site-packages (``os:system``, ``subprocess:getoutput``, ``pandas:read_pickle`` would run
    commands or unpickle files with the suite's ``arch_params``), unless the module is listed in
    ``ROBARENA_TRUSTED_MODULES`` (comma-separated). Checked before anything is imported.
    """
    module_name = arch.partition(":")[0]
    top = module_name.split(".")[0]
    trusted = {m.strip() for m in os.environ.get(TRUSTED_MODULES_ENV, "").split(",") if m.strip()}
    if module_name in trusted or top in trusted:
        return
    hint = (f"suites may only name a factory in your own code; if you trust {top!r}, "
            f"set {TRUSTED_MODULES_ENV}={top}")
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise UsageError(f"architecture {arch!r}: refusing to call into the standard library module {top!r}; {hint}")
    try:
        spec = importlib.util.find_spec(top)  # locates the top-level package without running it
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise UsageError(f"architecture {arch!r}: no module named {top!r} (is it on PYTHONPATH?)")
    origin = spec.origin or next(iter(spec.submodule_search_locations or []), "")
    installed = {Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    if origin in ("built-in", "frozen") or any(Path(origin).resolve().is_relative_to(d) for d in installed):
        raise UsageError(f"architecture {arch!r}: refusing to call into the installed package {top!r}; {hint}")


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
        loading = sorted(_TIMM_LOADING_PARAMS & set(params))
        if loading:
            raise UsageError(f"arch_params {loading} would make timm load weights; give the weights as the "
                             "entry's checkpoint (safetensors or weights-only) instead")
        if not timm.is_model(name):
            raise UsageError(f"timm has no architecture {name!r}; see timm.list_models()")
        module = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=input_shape[0], **params)
        return WrappedClassifier(module, input_shape, num_classes, mean, std)
    if ":" in arch:
        check_factory(arch)
        factory = resolve_target(arch, what=f"architecture {arch!r}")
        if not (inspect.isfunction(factory) or (inspect.isclass(factory) and issubclass(factory, nn.Module))):
            raise UsageError(f"architecture {arch!r} is a {type(factory).__name__}, not a Python function or an "
                             "nn.Module class; refusing to call it")
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
