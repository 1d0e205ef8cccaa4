"""Perturbation budgets: one ``Eps`` type for every radius a threat model or a config takes.

An :class:`Eps` *is* a float (arithmetic, comparisons, ``torch`` calls and ``json`` see the
number) that also keeps a readable ``display``: ``Eps("8/255")`` is 0.0313... shown as
``"8/255"``; a number shows as ``k/255`` when it is one within 1e-12 (``Eps(8 / 255)``), else as
``f"{x:g}"``. Text is shown as written (``Eps("0.30").display == "0.30"``).

As a pydantic field type (``eps: Eps = Eps("8/255")``, ``list[Eps]``) it accepts numbers and
text (``"0.3"``, ``"8/255"``) and refuses, saying why:

* text that is not a number or a fraction, and booleans;
* nan; inf (no budget at all is ``norm = "unbounded"``, not a radius);
* negative radii;
* 0 (the ball is the clean input alone: nothing is perturbed), unless the field is declared
  :data:`EpsOrZero`.

Radii too large to mean anything depend on the norm and the box, so :func:`check_radius` (used by
:class:`~bench.threat.ThreatModel` and by configs that know their norm) refuses a Linf radius
above the box's width (the ball then holds the whole box) and an L2 radius above the diameter of
a 3 x 1024 x 1024 box of that width (:data:`MAX_INPUT_DIM`; larger inputs are not expected).

In ``model_dump(mode="json")`` an Eps is its float, exactly as the plain float fields that configs
held before this type: cache keys built from configs' JSON do not change. Torch-free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real
from typing import Annotated, Any, Optional, Union

from pydantic_core import core_schema

from bench.errors import ConfigError

#: Largest input (C * H * W) whose L2 diameter bounds an L2 radius: 3 x 1024 x 1024.
MAX_INPUT_DIM = 3 * 1024 * 1024


class EpsError(ConfigError, ValueError):
    """An eps that is not a usable perturbation budget (a ValueError, so pydantic reports it per field)."""


class Eps(float):
    """A perturbation radius: a float with a readable ``display`` and the ``text`` it was written as.

    Args:
        value: a number, or text such as ``"0.03"``, ``"8/255"`` (``"inf"`` with ``allow_inf``).
        display: how to show it (default: derived from ``value``, see the module docstring).
        allow_zero / allow_inf: admit 0 / infinity (both refused by default).
    Raises:
        EpsError: the value is not a number, nan, negative, or a refused 0 or infinity.
    """

    __slots__ = ("display", "text")
    display: str
    text: Optional[str]

    def __new__(cls, value: Union[Real, str], display: Optional[str] = None, *, allow_zero: bool = False,
                allow_inf: bool = False) -> "Eps":
        number, text = _parse(value)
        if display is None and isinstance(value, Eps):
            display = value.display
        if math.isnan(number):
            raise EpsError(f"eps {value!r} is not a number (nan); give a radius such as 0.03 or '8/255'")
        if number < 0:
            raise EpsError(f"eps {value!r} is negative: eps must be >= 0 (a radius, e.g. 0.03 or '8/255')")
        if math.isinf(number) and not allow_inf:
            raise EpsError(f"eps {value!r} is infinite; a radius must be finite (no budget at all is "
                           "norm = 'unbounded' in a threat model)")
        if number == 0 and not allow_zero:
            raise EpsError("eps = 0 allows no perturbation (the ball holds only the clean input, so every "
                           "attack returns it and robust accuracy equals clean accuracy); give a radius > 0")
        out = super().__new__(cls, number)
        out.text = text
        out.display = display if display is not None else (text if text is not None else _show(number))
        return out

    def __repr__(self) -> str:
        if self.text is not None and _parse(self.text)[0] == float(self):
            return f"Eps({self.text!r})"
        return f"Eps({float(self)!r}, {self.display!r})"

    def __reduce__(self) -> tuple:
        return _restore, (float(self), self.display, self.text)

    def __copy__(self) -> "Eps":
        return self

    def __deepcopy__(self, memo: dict) -> "Eps":
        return self

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return EpsRule().__get_pydantic_core_schema__(source, handler)


@dataclass(frozen=True)
class EpsRule:
    """Pydantic metadata for an :class:`Eps` field: ``Annotated[Eps, EpsRule(allow_zero=True)]``.

    ``norm`` (``"Linf"``/``"L2"``) also applies :func:`check_radius` for that norm on the [0, 1] box,
    for fields whose norm is fixed (e.g. per-pixel Linf radii of a probe).
    """

    allow_zero: bool = False
    allow_inf: bool = False
    norm: Optional[str] = None

    def validate(self, value: Any) -> Eps:
        if isinstance(value, bool) or not isinstance(value, (Real, str)):
            raise EpsError(f"eps must be a number or text such as '8/255', got {type(value).__name__} {value!r}")
        out = Eps(value, allow_zero=self.allow_zero, allow_inf=self.allow_inf)
        return check_radius(out, self.norm) if self.norm is not None else out

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate, serialization=core_schema.plain_serializer_function_ser_schema(
                float, when_used="json", return_schema=core_schema.float_schema()),
            json_schema_input_schema=core_schema.union_schema([core_schema.float_schema(), core_schema.str_schema()]))


#: An Eps field that also admits 0 (e.g. a sweep that starts at the clean input).
EpsOrZero = Annotated[Eps, EpsRule(allow_zero=True)]


def max_radius(norm: str, bounds: tuple[float, float] = (0.0, 1.0)) -> float:
    """The largest meaningful radius of ``norm`` on the box ``bounds`` (see the module docstring)."""
    width = bounds[1] - bounds[0]
    if norm == "Linf":
        return width
    if norm == "L2":
        return width * math.sqrt(MAX_INPUT_DIM)
    return math.inf


def check_radius(eps: float, norm: str, bounds: tuple[float, float] = (0.0, 1.0)) -> float:
    """Return ``eps`` if it is a meaningful radius of ``norm`` on ``bounds``; else raise :class:`EpsError`."""
    limit = max_radius(norm, bounds)
    if eps <= limit:
        return eps
    shown = getattr(eps, "display", f"{eps:g}")
    if norm == "Linf":
        raise EpsError(f"Linf eps {shown} exceeds the width {limit:g} of the box {tuple(bounds)}: the ball then "
                       "holds every image in the box; use norm = 'unbounded' for no budget, or a radius "
                       f"<= {limit:g} (e.g. '8/255')")
    raise EpsError(f"L2 eps {shown} is larger than the diameter of a 3 x 1024 x 1024 image box of width "
                   f"{bounds[1] - bounds[0]:g} ({limit:.4g}): no input robarena expects is that far from "
                   "anything; use norm = 'unbounded' for no budget, or a radius such as 0.5")


def as_written(eps: Eps) -> Union[str, float]:
    """The eps as written: its text when it was given as text, else the float.

    For configs that stored their radii as written before :class:`Eps` existed (a
    ``field_serializer`` returning this keeps their cache keys).
    """
    return eps.text if eps.text is not None else float(eps)


def _parse(value: Any) -> tuple[float, Optional[str]]:
    """(number, stripped text or None) of a number or of text such as ``"8/255"``, ``"0.3"``, ``"inf"``."""
    if isinstance(value, Eps):
        return float(value), value.text
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in {"inf", "infinity"}:
            return math.inf, "inf"
        try:
            if "/" in text:
                num, den = text.split("/")
                return float(num) / float(den), text
            return float(text), text
        except (ValueError, ZeroDivisionError):
            raise EpsError(f"eps {value!r} is not a number; write e.g. 0.03 or '8/255'") from None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise EpsError(f"eps must be a number or text such as '8/255', got {type(value).__name__} {value!r}")
    return float(value), None


def _show(number: float) -> str:
    """``k/255`` for multiples of 1/255 (within 1e-12), ``inf``, else ``f"{x:g}"``."""
    if math.isinf(number):
        return "inf"
    frac = Fraction(number).limit_denominator(255)
    if frac.denominator == 255 and abs(float(frac) - number) < 1e-12:
        return f"{frac.numerator}/255"
    return f"{number:g}"


def _restore(value: float, display: str, text: Optional[str]) -> Eps:
    """Unpickle an :class:`Eps` without re-validating it."""
    out = float.__new__(Eps, value)
    out.display, out.text = display, text
    return out
