"""What the reference says about one registered component, as plain data (:class:`ComponentDoc`).

Read from the spec (summary, paper, declared capabilities, version, distribution) and from the
implementation's ``Config`` class (parameters, see :mod:`bench.docs_gen.fields`). Spec fields this
module has no wording for are listed under their own names, so a new capability shows up without a
change here; an implementation that cannot be imported is described from its spec alone, with the
import error in place of its parameters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from pydantic import BaseModel

from bench.config import BaseConfig
from bench.docs_gen.fields import ParamDoc, params_of, params_of_signature, value_text
from bench.specs import ComponentSpec, Paper

#: kinds whose implementation is loaded for its ``Config`` (suites are TOML files, claims functions)
CONFIGURED_KINDS = ("dataset", "model", "defense", "attack", "probe", "task", "corruption")


@dataclass(frozen=True)
class ComponentDoc:
    """One component as reference data. ``facts`` are (label, text) pairs from the spec's declared
    capabilities; ``config`` names the ``Config`` class ("" when there is none) and ``config_note`` is
    its docstring's first paragraph; ``error`` is set when the implementation could not be imported."""

    qualified_id: str
    kind: str
    version: str
    distribution: str
    summary: str
    paper: Optional[Paper]
    target: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    config: str = ""
    config_note: str = ""
    params: list[ParamDoc] = field(default_factory=list)
    error: str = ""


def describe(entry: Any, load: bool = True) -> ComponentDoc:
    """The :class:`ComponentDoc` of a registry entry (``load=False``: from the spec alone)."""
    spec: ComponentSpec = entry.spec
    doc = dict(qualified_id=entry.qualified_id, kind=str(spec.kind), version=spec.version,
               distribution=entry.plugin.distribution, summary=" ".join(spec.summary.split()),
               paper=spec.paper, target=spec.target, facts=spec_facts(spec))
    if not load or str(spec.kind) not in CONFIGURED_KINDS:
        return ComponentDoc(**doc)
    try:
        impl = entry.load()
    except Exception as exc:  # a broken plugin must not stop the reference of the others
        return ComponentDoc(**doc, error=_first_line(f"{type(exc).__name__}: {exc}"))
    config = getattr(impl, "Config", None)
    if config is BaseConfig:  # the base class itself: the component declares no parameters
        return ComponentDoc(**doc)
    if isinstance(config, type) and issubclass(config, BaseModel):
        return ComponentDoc(**doc, config=config.__name__, config_note=config_note(config), params=params_of(config))
    if callable(impl) and not isinstance(impl, type):  # a model factory function: its keyword arguments
        return ComponentDoc(**doc, params=params_of_signature(impl))
    return ComponentDoc(**doc)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def config_note(config: type) -> str:
    """The first paragraph of the config class's own docstring, RST roles and literals made plain."""
    own = config.__dict__.get("__doc__")
    if not own:
        return ""
    for base in config.__mro__[1:]:
        if base.__dict__.get("__doc__") == own:
            return ""
    first = re.split(r"\n\s*\n", own.strip())[0]
    first = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", first)
    first = first.replace("``", "`")
    return " ".join(first.split())


# --------------------------------------------------------------------------- capabilities
def _yes(flag: bool, yes: str = "yes", no: str = "no") -> str:
    return yes if flag else no


def _modes(spec: Any) -> str:
    if spec.untargeted and spec.targeted:
        return "untargeted and targeted"
    return "targeted only" if spec.targeted else "untargeted only"


def _codes(values: Any) -> str:
    return ", ".join(f"`{v}`" for v in values) if values else "none"


def _size(spec: Any) -> str:
    if spec.max_size is None:
        return f"H and W >= {spec.min_size}" if spec.min_size > 1 else "any"
    return f"H and W in [{spec.min_size}, {spec.max_size}]"


#: (spec fields it reads, label, wording); applied in order to specs that have all of its fields
FACT_RULES: list[tuple[tuple[str, ...], str, Callable[[Any], str]]] = [
    (("norms", "targeted", "untargeted"), "threat models", lambda s: f"{', '.join(s.norms)}; {_modes(s)}"),
    (("needs_gradients",), "needs gradients", lambda s: _yes(s.needs_gradients, "yes", "no (gradient-free)")),
    (("minimal",), "minimal perturbation", lambda s: _yes(
        s.minimal, "yes: returns each example's smallest adversarial distance", "no: fixed budget")),
    (("shape",), "shape (C, H, W)", lambda s: " x ".join(str(v) for v in s.shape)),
    (("num_classes",), "classes", lambda s: str(s.num_classes)),
    (("embedded",), "embedded", lambda s: _yes(s.embedded, "yes: no download, no files",
                                               "no: reads files from a data root (or downloads them)")),
    (("channels",), "input channels", lambda s: "any" if s.channels is None else ", ".join(map(str, s.channels))),
    (("min_size", "max_size"), "input size", _size),
    (("published",), "published values", lambda s: "; ".join(  # empty (no fact) for most models
        f"{p.metric}{f' {p.norm} {p.eps_display}' if p.norm else ''} {100 * p.value:.2f} % ({p.source})"
        for p in s.published)),
    (("trains",), "trains", lambda s: _yes(s.trains, "yes: a training recipe", "no: wraps a trained model")),
    (("randomized",), "randomized output", lambda s: _yes(s.randomized, "yes: evaluate with an EOT attack", "no")),
    (("columns",), "columns", lambda s: _codes(s.columns)),
    (("needs_attacks",), "reads the attack outputs", lambda s: _yes(s.needs_attacks)),
    (("needs_train",), "reads the training split", lambda s: _yes(s.needs_train)),
    (("always",), "on every row", lambda s: _yes(
        s.always, "yes: an attack-failure indicator every row gets (a suite turns it off with integrity = false)")),
    (("family", "deterministic"), "corruption", lambda s: f"{s.family}; " + _yes(
        s.deterministic, "deterministic", "random (drawn from the stage's seeded generator)")),
    (("suite",), "suite", lambda s: f"`{s.suite}`"),
    (("statement",), "statement", lambda s: " ".join(s.statement.split())),
    (("description",), "description", lambda s: " ".join(s.description.split())),
]


def spec_facts(spec: ComponentSpec) -> list[tuple[str, str]]:
    """(label, text) for every declared field beyond the common ones, worded where a rule knows it."""
    common = set(ComponentSpec.model_fields)
    own = [name for name in type(spec).model_fields if name not in common]
    facts, used = [], set()
    for fields, label, wording in FACT_RULES:
        if all(f in own for f in fields):
            text = wording(spec)
            if text:
                facts.append((label, text))
            used.update(fields)
    for name in own:
        if name not in used:
            facts.append((name.replace("_", " "), value_text(getattr(spec, name))))
    return facts
