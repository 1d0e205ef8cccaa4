"""One ``Config`` field as reference text: its type with constraints, its default, its description.

Rendering never imports torch and never fails on a field it does not understand: an unknown type
is shown by its name, an unknown constraint is left out, an odd default falls back to ``repr``.

* Types: ``int``, ``float``, ``bool``, ``str``, ``eps`` (a :class:`bench.eps.Eps`: a number or
  text such as ``"8/255"``), literals as ``"ce" / "cw"``, ``list[...]``, ``tuple[...]``,
  ``dict[...]``, a nested config as ``Name {field, ...}``; ``or None`` when None is accepted.
* Constraints (``Field(ge=...)``, ``Steps``, ``EpsRule``, ``min_length``): ``>= 1``,
  ``in (0, 1]``, ``at least 1 item``; an :class:`~bench.eps.EpsRule` with ``allow_zero`` reads
  ``>= 0`` and one with a norm adds it (``Linf``).
* Defaults: an Eps as written (``8/255``); a plain float that is exactly k/255 and has no short
  decimal form as ``k/255`` (``2/255``, not ``0.00784313725490196``); strings in double quotes;
  ``required`` when there is none.
* Defaults that scale with eps: see :func:`eps_scaling`.
"""
from __future__ import annotations

import enum
import inspect
import math
import re
import types
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, Optional, Union, get_args, get_origin

from pydantic import BaseModel

from bench.eps import Eps, EpsRule

try:  # pydantic >= 2: the constraint objects live in annotated_types
    import annotated_types as at
except ImportError:  # pragma: no cover - pydantic 2 always installs it
    at = None  # type: ignore[assignment]

_NONE_TYPES = (type(None),)
_UNION_TYPES: tuple = (Union,) + ((types.UnionType,) if hasattr(types, "UnionType") else ())
_NAMES = {int: "int", float: "float", bool: "bool", str: "str", bytes: "bytes", Any: "any"}


@dataclass(frozen=True)
class ParamDoc:
    """One parameter as reference text. ``scales`` is the eps rule of a default that scales with the
    threat model's radius (``"2.5 * eps / steps"``), ``""`` when the default is absolute."""

    name: str
    type: str
    default: str
    description: str
    scales: str = ""


def params_of(config: Any) -> list[ParamDoc]:
    """The documented parameters of a pydantic config class (fields in declaration order)."""
    fields = getattr(config, "model_fields", None)
    if not isinstance(fields, dict):
        return []
    out = []
    for name, field in fields.items():
        annotation, metadata = _unwrap(field.annotation, list(field.metadata))
        required = field.is_required()
        default = _MISSING if required else field.get_default(call_default_factory=True)
        description = " ".join((field.description or "").split())
        out.append(ParamDoc(name, type_text(annotation, metadata), "required" if required else value_text(default),
                            description, "" if required else eps_scaling(name, field, annotation, default, description)))
    return out


def params_of_signature(fn: Any, skip: tuple[str, ...] = ("input_shape", "num_classes")) -> list[ParamDoc]:
    """Keyword parameters of a plain factory function (a model target without a ``Config``)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    out = []
    for p in signature.parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = p.annotation if p.annotation is not p.empty else Any
        if isinstance(annotation, str):  # postponed annotations: show them as written
            shown = annotation
        else:
            shown = type_text(*_unwrap(annotation, []))
        default = "required" if p.default is p.empty else value_text(p.default)
        out.append(ParamDoc(p.name, shown, default, ""))
    return out


# --------------------------------------------------------------------------- types
class _Missing:
    pass


_MISSING = _Missing()


def _unwrap(annotation: Any, metadata: list) -> tuple[Any, list]:
    """``Annotated[T, m...]`` -> (T, metadata + [m...]), repeatedly."""
    while getattr(annotation, "__metadata__", None) is not None and get_args(annotation):
        metadata = list(annotation.__metadata__) + metadata
        annotation = get_args(annotation)[0]
    return annotation, metadata


def type_text(annotation: Any, metadata: Optional[list] = None) -> str:
    """``annotation`` (with the field's constraint ``metadata``) as short reference text."""
    metadata = metadata or []
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in _UNION_TYPES:
        members = [a for a in args if a not in _NONE_TYPES]
        shown = " or ".join(type_text(*_unwrap(a, metadata if len(members) == 1 else [])) for a in members)
        return shown + (" or None" if len(members) < len(args) else "")
    base = _base_text(annotation, origin, args)
    constraint = _constraint_text(annotation, metadata)
    if not constraint:
        return base
    return f"{base}, {constraint}" if constraint.startswith("at ") else f"{base} {constraint}"


def _base_text(annotation: Any, origin: Any, args: tuple) -> str:
    if annotation in _NAMES:
        return _NAMES[annotation]
    if isinstance(annotation, type) and issubclass(annotation, Eps):
        return "eps"
    if origin is Literal:
        return " / ".join(value_text(a) for a in args)
    if origin in (list, set, frozenset):
        inner = type_text(*_unwrap(args[0], [])) if args else "any"
        return f"{origin.__name__}[{inner}]"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"tuple[{type_text(*_unwrap(args[0], []))}, ...]"
        return "tuple[" + ", ".join(type_text(*_unwrap(a, [])) for a in args) + "]" if args else "tuple"
    if origin is dict:
        return "dict[" + ", ".join(type_text(*_unwrap(a, [])) for a in args) + "]" if args else "dict"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        names = list(annotation.model_fields)
        return f"{annotation.__name__} {{{', '.join(names)}}}" if len(names) <= 4 else f"{annotation.__name__} table"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " / ".join(value_text(m.value) for m in annotation)
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _constraint_text(annotation: Any, metadata: list) -> str:
    lower: Optional[tuple[str, Any]] = None
    upper: Optional[tuple[str, Any]] = None
    extra: list[str] = []
    norm = ""
    for m in metadata:
        if isinstance(m, EpsRule):
            if lower is None:
                lower = (">=", 0) if m.allow_zero else (">", 0)
            norm = f" ({m.norm})" if m.norm else ""
            continue
        if _is_steps_validator(m):
            lower = (">=", 1)
            continue
        for attr, op, side in (("ge", ">=", "lower"), ("gt", ">", "lower"), ("le", "<=", "upper"), ("lt", "<", "upper")):
            value = getattr(m, attr, None)
            if value is not None and not isinstance(value, bool):
                if side == "lower":
                    lower = (op, value)
                else:
                    upper = (op, value)
        min_length = getattr(m, "min_length", None)
        if isinstance(min_length, int) and min_length > 0:
            extra.append(f"at least {min_length} item" + ("s" if min_length > 1 else ""))
        max_length = getattr(m, "max_length", None)
        if isinstance(max_length, int):
            extra.append(f"at most {max_length} item" + ("s" if max_length != 1 else ""))
    if isinstance(annotation, type) and issubclass(annotation, Eps) and lower is None:
        lower = (">", 0)  # a bare Eps refuses 0 and negative radii
    bound = ""
    if lower and upper:
        bound = (f"in {'[' if lower[0] == '>=' else '('}{_bound_text(lower[1])}, "
                 f"{_bound_text(upper[1])}{']' if upper[0] == '<=' else ')'}")
    elif lower:
        bound = f"{lower[0]} {_bound_text(lower[1])}"
    elif upper:
        bound = f"{upper[0]} {_bound_text(upper[1])}"
    return ", ".join(part for part in [(bound + norm).strip()] + extra if part)


def _bound_text(value: Any) -> str:
    """A bound without a spurious ``.0`` (``[0, 0.5]``, not ``[0.0, 0.5]``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return value_text(value)


def _is_steps_validator(m: Any) -> bool:
    """``bench.steps.Steps``' validator (an ``AfterValidator(check_steps)``): the value is >= 1."""
    func = getattr(m, "func", None)
    return getattr(func, "__name__", "") == "check_steps" and getattr(func, "__module__", "") == "bench.steps"


# --------------------------------------------------------------------------- values
def number_text(value: float) -> str:
    """A float as written: ``k/255`` when exactly that and without a short decimal form, else ``repr``."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    short = repr(float(value))
    frac = Fraction(value).limit_denominator(255)
    k = value * 255
    if len(short) > 8 and abs(k - round(k)) < 1e-9 and abs(float(frac) - value) < 1e-12 and round(k) != 0:
        return f"{round(k)}/255"
    return short


def value_text(value: Any) -> str:
    """A default value as a reader would write it in a suite (Python spellings for None/True/False)."""
    if isinstance(value, Eps):
        return value.display
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, enum.Enum):
        return value_text(value.value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, BaseModel):  # only what differs from the model's own defaults
        return value_text({k: v for k, v in _changed_fields(value).items()})
    if isinstance(value, (list, tuple)):
        inner = ", ".join(value_text(v) for v in value)
        if isinstance(value, tuple):
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        return f"[{inner}]"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(value_text(v) for v in value)) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _changed_fields(model: BaseModel) -> dict[str, Any]:
    out = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if field.is_required() or value != field.get_default(call_default_factory=True):
            out[name] = value
    return out


# --------------------------------------------------------------------------- eps scaling
#: what :func:`eps_scaling` returns when a config says a default scales with eps without a rule
SCALES = "scales with eps"
_NONE_RULE = re.compile(r"\bNone\b[^;]*?\beps\b")
_FRACTION = re.compile(r"\b(?:fraction|multiple)s? of (?:the )?eps\b", re.IGNORECASE)


def eps_scaling(name: str, field: Any, annotation: Any, default: Any, description: str) -> str:
    """How this field's **default** scales with the threat model's eps: ``""`` when it does not, the
    rule when the config states one as data, else :data:`SCALES` (the description says how).

    A config says so in one of these ways (first match wins):

    1. ``json_schema_extra={"scales_with_eps": RULE}`` on the field (``RULE`` text such as
       ``"eps / 4"``, or ``True``), or a metadata object with a ``scales_with_eps`` attribute;
    2. the default is text that mentions eps (``"eps/4"``);
    3. the default is None and the description, in the clause that mentions None, mentions eps
       (``"None = 2.5 * eps / steps"``, ``"None (default) = scaled to eps: ..."``);
    4. the field is itself relative: its description calls it a fraction (or multiple) of eps or
       multiplies eps by the field's own name (``"step length = step_factor * eps / steps"``).

    Eps-typed fields are radii, never scaled.
    """
    extra = getattr(field, "json_schema_extra", None)
    marks = [extra.get("scales_with_eps")] if isinstance(extra, dict) else []
    marks += [getattr(m, "scales_with_eps", None) for m in getattr(field, "metadata", [])]
    for mark in marks:
        if isinstance(mark, str) and mark.strip():
            return " ".join(mark.split())
        if mark is True:
            return SCALES
    if isinstance(annotation, type) and issubclass(annotation, Eps):
        return ""
    if isinstance(default, str) and re.search(r"\beps\b", default):
        return default
    if default is None and _NONE_RULE.search(description):
        return SCALES
    own = re.escape(name)
    if _FRACTION.search(description) or re.search(rf"\b{own}\s*\*\s*eps\b|\beps\s*\*\s*{own}\b", description):
        return SCALES
    return ""
