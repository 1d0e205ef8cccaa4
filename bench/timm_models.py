"""Any timm architecture as a registered model: the id ``timm/<name>`` (e.g. ``timm/resnet18``).

The model is ``timm.create_model(name, pretrained=False, num_classes=K, in_chans=C, **options)``
behind robarena's Classifier contract: [0, 1] inputs with normalization inside (``mean``/``std``,
default none), ``features(x)`` from timm's ``forward_features`` + ``forward_head(pre_logits=True)``.
Weights are never downloaded: robarena trains them or loads a user's checkpoint.

The registry reaches this module through :data:`RESOLVER` (listed lazily in
``bench.registry.BUILTIN_RESOLVERS``); the registry itself never imports it.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import metadata
from typing import Any, Optional

from pydantic import Field

from bench.config import BaseConfig
from bench.errors import UnknownComponentError
from bench.plugins import PluginInfo
from bench.registry import Entry, Resolver
from bench.specs import Kind, ModelSpec


class TimmConfig(BaseConfig):
    """Options passed to ``timm.create_model`` plus the normalization applied inside the model."""

    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for timm.create_model")
    mean: Optional[list[float]] = None
    std: Optional[list[float]] = None


class TimmEntry(Entry[ModelSpec]):
    def load(self) -> Any:
        return _timm_class(self.spec.name)


@lru_cache(maxsize=None)
def _timm_class(name: str) -> type:
    from bench.api.model import WrappedClassifier

    class TimmClassifier(WrappedClassifier):
        Config = TimmConfig
        timm_name = name

        def __init__(self, input_shape, num_classes, config: Optional[TimmConfig] = None) -> None:
            import timm

            cfg = config or TimmConfig()
            module = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=input_shape[0],
                                       **cfg.options)
            super().__init__(module, input_shape, num_classes, cfg.mean, cfg.std)
            self.config = cfg

    TimmClassifier.__name__ = TimmClassifier.__qualname__ = f"Timm[{name}]"
    return TimmClassifier


def timm_entry(ident: str) -> TimmEntry:
    """A registry entry for ``timm/<name>``; unknown names fail with timm's close matches."""
    name = ident[len("timm/"):]
    try:
        version = metadata.version("timm")
    except metadata.PackageNotFoundError:
        raise UnknownComponentError(f"model {ident!r} needs timm: pip install timm") from None
    import timm

    if not timm.is_model(name):
        import difflib

        hints = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join('timm/' + h for h in hints)}?" if hints else ""
        raise UnknownComponentError(f"unknown model {ident!r}: timm has no architecture {name!r}.{hint}")
    spec = ModelSpec(name=name, version=version, target="bench.timm_models:TimmConfig",
                     summary=f"timm architecture {name} (pretrained=False)")
    return TimmEntry(ident, spec, PluginInfo("timm", "bench.timm_models", "timm", version))


#: ``timm/<name>`` model ids, for the registry.
RESOLVER = Resolver(Kind.MODEL, "timm/", timm_entry)
