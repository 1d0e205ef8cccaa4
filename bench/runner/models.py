"""Build classifiers: registered architectures, ``timm/<name>``, or a user's ``module:factory``
(opt-in: see :func:`check_factory`), and load checkpoints safely (safetensors, or torch's
weights-only loader; never a raw pickle)."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import re
import sys
import sysconfig
import tokenize
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import torch
from torch import nn

from bench.api.model import Classifier, WrappedClassifier
from bench.errors import UnsafeCheckpointError, UsageError
from bench.factory import ENTRY_POINT_GROUP, is_marked
from bench.registry import Registry


TRUSTED_MODULES_ENV = "ROBARENA_TRUSTED_MODULES"
_TIMM_LOADING_PARAMS = {"pretrained", "checkpoint_path", "pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"}
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def trusted_modules() -> set[str]:
    """Modules the user trusts (``--trust-module`` / ``ROBARENA_TRUSTED_MODULES``, comma-separated)."""
    return {m.strip() for m in os.environ.get(TRUSTED_MODULES_ENV, "").split(",") if m.strip()}


@contextmanager
def trusting(modules: Iterable[str]) -> Iterator[None]:
    """Add ``modules`` to ``ROBARENA_TRUSTED_MODULES`` for the duration (Ray workers inherit it)."""
    modules = [m.strip() for m in (modules.split(",") if isinstance(modules, str) else modules) if m.strip()]
    for m in modules:
        if not _DOTTED.match(m):
            raise UsageError(f"--trust-module {m!r} is not a module name (e.g. mymodels or mypkg.nets)")
    before = os.environ.get(TRUSTED_MODULES_ENV)
    if modules:
        os.environ[TRUSTED_MODULES_ENV] = ",".join(sorted(trusted_modules() | set(modules)))
    try:
        yield
    finally:
        if modules:
            if before is None:
                os.environ.pop(TRUSTED_MODULES_ENV, None)
            else:
                os.environ[TRUSTED_MODULES_ENV] = before


def is_own_module(module_name: str) -> bool:
    """robarena's own code (``bench.*``, ``robarena*`` plugin packages): never a factory."""
    top = module_name.split(".")[0]
    return top == "bench" or top.startswith("robarena")


def _declared_factories() -> set[str]:
    """``module:attr`` values of the ``robarena.model_factories`` entry points (metadata only, nothing imported)."""
    return {ep.value.replace(" ", "") for ep in entry_points(group=ENTRY_POINT_GROUP)}


def check_factory(arch: str) -> str:
    """Decide, before anything is imported, whether a suite may use ``module:factory`` (suites are data).

    Returns how it is allowed: ``"declared"`` (an entry point of ``robarena.model_factories``),
    ``"trusted"`` (the module or a parent package is trusted) or ``"marked"`` (your own code
    outside the Python installation whose source file defines ``factory`` under
    ``@bench.model_factory``: read with :mod:`ast`, not imported). Refused with
    :class:`UsageError`: robarena's own modules whatever is trusted; the standard library and
    installed packages unless trusted or declared; your own modules without the decorator;
    modules that do not exist.
    """
    module_name, _, attr = arch.partition(":")
    if not (_DOTTED.match(module_name) and _DOTTED.match(attr)):
        raise UsageError(f"architecture {arch!r} must look like package.module:factory")
    top = module_name.split(".")[0]
    if is_own_module(module_name):
        raise UsageError(f"architecture {arch!r}: robarena's own modules are never called as factories, "
                         "whatever is trusted; use a registered model id (see 'robarena ls models')")
    if any(module_name == t or module_name.startswith(t + ".") for t in trusted_modules()):
        return "trusted"
    hint = (f"if you trust it, pass --trust-module {module_name} (or set {TRUSTED_MODULES_ENV}={module_name}); "
            f"a package's author can declare the factory in the {ENTRY_POINT_GROUP!r} entry-point group")
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise UsageError(f"architecture {arch!r}: refusing to call into the standard library module {top!r}; {hint}")
    if arch in _declared_factories():
        return "declared"
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
    source = _source_file(spec, module_name.split(".")[1:])
    if source is None:
        raise UsageError(f"architecture {arch!r}: no module named {module_name!r} (is it on PYTHONPATH?)")
    if not _defines_marked(source, attr):
        raise UsageError(
            f"architecture {arch!r}: {source} does not define {attr!r} under @bench.model_factory; decorate the "
            f"function or nn.Module class where it is defined (from bench import model_factory) and name that "
            f"module, or pass --trust-module {module_name} if you trust every function of it")
    return "marked"


def _source_file(spec: Any, parts: list[str]) -> Optional[Path]:
    """The ``.py`` file of a submodule found by walking package folders (nothing imported)."""
    if not parts:
        origin = Path(spec.origin) if spec.origin and spec.origin not in ("built-in", "frozen") else None
        return origin if origin is not None and origin.suffix == ".py" and origin.is_file() else None
    for folder in spec.submodule_search_locations or []:
        path = Path(folder)
        for part in parts[:-1]:
            path = path / part
        for candidate in (path / parts[-1] / "__init__.py", path / f"{parts[-1]}.py"):
            if candidate.is_file():
                return candidate
    return None


def _defines_marked(source: Path, attr: str) -> bool:
    """Whether ``source`` defines ``attr`` at top level under ``@model_factory`` / ``@bench.model_factory``."""
    try:
        with tokenize.open(source) as f:
            tree = ast.parse(f.read(), filename=str(source))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == attr:
            return any((isinstance(d, ast.Name) and d.id == "model_factory")
                       or (isinstance(d, ast.Attribute) and d.attr == "model_factory"
                           and isinstance(d.value, ast.Name) and d.value.id == "bench")
                       for d in node.decorator_list)
    return False


def resolve_factory(arch: str) -> Any:
    """The callable behind ``module:factory`` once :func:`check_factory` allows it (imports the module).

    It must be a Python function or an ``nn.Module`` subclass defined outside robarena, and, for
    your own code, carry ``@bench.model_factory`` itself (an inherited marker does not count).
    """
    how = check_factory(arch)
    module_name, _, attr = arch.partition(":")
    try:
        factory: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            factory = getattr(factory, part)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"architecture {arch!r}: cannot import it ({type(exc).__name__}: {exc}); check the "
                         "module path and that its folder is on PYTHONPATH") from None
    except Exception as exc:  # the module's own code failed while importing
        raise UsageError(f"architecture {arch!r}: importing {module_name!r} raised "
                         f"{type(exc).__name__}: {exc}") from None
    if not (inspect.isfunction(factory) or (inspect.isclass(factory) and issubclass(factory, nn.Module))):
        raise UsageError(f"architecture {arch!r} is a {type(factory).__name__}, not a Python function or an "
                         "nn.Module class; refusing to call it")
    if is_own_module(getattr(factory, "__module__", "") or ""):
        raise UsageError(f"architecture {arch!r} is robarena's own {factory.__module__}.{factory.__qualname__}; "
                         "robarena's code is never called as a factory")
    if how == "marked" and not is_marked(factory):
        raise UsageError(
            f"architecture {arch!r} is not marked as a model factory; decorate it with @bench.model_factory "
            f"(from bench import model_factory), or pass --trust-module {arch.partition(':')[0]} if you trust "
            "every function of that module")
    return factory


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
        module = resolve_factory(arch)(**params)
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
    if p.is_dir():
        raise UsageError(f"checkpoint {path!r} is a directory; give the path of a .safetensors or weights-only "
                         ".pt/.pth file")
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
        except RuntimeError as exc:  # "Error(s) in loading state_dict for X:" then missing/unexpected keys, shapes
            detail = " ".join(line.strip() for line in str(exc).splitlines()[1:] if line.strip())
            errors.append(detail if len(detail) <= 300 else detail[:297] + "...")
    raise UsageError(f"checkpoint {source} does not match the architecture: {errors[0]}")
