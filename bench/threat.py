"""Threat models: the set of allowed adversarial examples around a clean input.

``ThreatModel(norm="Linf", eps=8/255)`` allows ``||x_adv - x||_inf <= eps`` inside the
box ``bounds`` (default [0, 1]); ``norm="unbounded"`` keeps only the box. Epsilons are
floats; ``eps_display`` keeps a readable form ("8/255") beside them. torch is imported
inside the tensor methods so that specs and suites stay light.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from bench.errors import ThreatModelViolation

if TYPE_CHECKING:  # pragma: no cover
    import torch

Norm = Literal["Linf", "L2", "unbounded"]
#: slack allowed when checking returned examples (float32 rounding of projections)
CHECK_ATOL = 1e-5


def parse_eps(value: Union[float, int, str]) -> tuple[float, str]:
    """Parse ``0.03``, ``"8/255"`` or ``"inf"`` into (float, display string)."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in {"inf", "infinity"}:
            return math.inf, "inf"
        try:
            if "/" in text:
                num, den = text.split("/")
                out = float(num) / float(den)
            else:
                out = float(text)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"eps {value!r} is not a number; write e.g. 0.03, '8/255' or 'inf'") from None
        return out, text
    out = float(value)
    if math.isinf(out):
        return out, "inf"
    frac = Fraction(out).limit_denominator(255)
    if frac.denominator == 255 and abs(float(frac) - out) < 1e-12:
        return out, f"{frac.numerator}/255"
    return out, f"{out:g}"


class ThreatModel(BaseModel):
    """Allowed perturbations: ``norm`` ball of radius ``eps`` intersected with the ``bounds`` box."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    norm: Norm = "Linf"
    eps: float = 8 / 255
    eps_display: str = ""
    targeted: bool = False
    bounds: tuple[float, float] = (0.0, 1.0)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: object) -> object:
        if isinstance(data, dict):
            data = dict(data)
            norm = data.get("norm", "Linf")
            if isinstance(norm, str) and norm.lower() in {"linf", "l_inf", "inf"}:
                data["norm"] = "Linf"
            elif isinstance(norm, str) and norm.lower() in {"l2", "l_2"}:
                data["norm"] = "L2"
            if "eps" not in data and data.get("norm") == "unbounded":
                data["eps"] = math.inf
            if "eps" in data:
                try:
                    eps, display = parse_eps(data["eps"])
                except (TypeError, ValueError) as exc:
                    raise ValueError(str(exc)) from None
                data["eps"] = eps
                data.setdefault("eps_display", display)
        return data

    @field_validator("eps")
    @classmethod
    def _check_eps(cls, v: float) -> float:
        if math.isnan(v) or v < 0:
            raise ValueError(f"eps must be >= 0 (got {v}); use norm='unbounded' for no budget")
        return v

    @model_validator(mode="after")
    def _check(self) -> "ThreatModel":
        lo, hi = self.bounds
        if not lo < hi:
            raise ValueError(f"bounds {self.bounds} must satisfy low < high")
        if self.norm == "unbounded" and not math.isinf(self.eps):
            raise ValueError("an unbounded threat model has eps = inf; drop eps or pick Linf/L2")
        if self.norm != "unbounded" and math.isinf(self.eps):
            raise ValueError(f"{self.norm} with eps = inf: use norm='unbounded' instead")
        if not self.eps_display:
            object.__setattr__(self, "eps_display", parse_eps(self.eps)[1])
        return self

    @property
    def label(self) -> str:
        """Short readable name, e.g. ``Linf 8/255`` or ``L2 0.5 targeted``."""
        base = "unbounded" if self.norm == "unbounded" else f"{self.norm} {self.eps_display}"
        return base + (" targeted" if self.targeted else "")

    # ------------------------------------------------------------------ tensor ops
    def distance(self, x_adv: "torch.Tensor", x: "torch.Tensor") -> "torch.Tensor":
        """Per-example distance in this threat model's norm (Linf for ``unbounded``), shape (N,)."""
        delta = (x_adv - x).flatten(1)
        if self.norm == "L2":
            return delta.norm(p=2, dim=1)
        return delta.abs().amax(dim=1)

    def project(self, x_adv: "torch.Tensor", x: "torch.Tensor") -> "torch.Tensor":
        """Nearest-in-norm projection onto the eps-ball around ``x``, then clamp to the box."""
        import torch

        delta = x_adv - x
        if self.norm == "Linf":
            delta = delta.clamp(-self.eps, self.eps)
        elif self.norm == "L2":
            norms = delta.flatten(1).norm(p=2, dim=1).clamp_min(1e-12)
            factor = torch.clamp(self.eps / norms, max=1.0).view(-1, *([1] * (x.dim() - 1)))
            delta = delta * factor
        return (x + delta).clamp(*self.bounds)

    def violations(self, x_adv: "torch.Tensor", x: "torch.Tensor", atol: float = CHECK_ATOL) -> "torch.Tensor":
        """Boolean mask (N,) of examples outside the ball or the box (or not finite)."""
        lo, hi = self.bounds
        flat = x_adv.flatten(1)
        bad = ~torch_isfinite_rows(flat)
        bad |= (flat < lo - atol).any(dim=1) | (flat > hi + atol).any(dim=1)
        if self.norm != "unbounded":
            slack = atol if self.norm == "Linf" else atol * max(1.0, self.eps)
            bad |= self.distance(x_adv, x) > self.eps + slack
        return bad

    def check(self, x_adv: "torch.Tensor", x: "torch.Tensor", who: Optional[str] = None) -> None:
        """Raise :class:`ThreatModelViolation` if ``x_adv`` is malformed or leaves the threat model."""
        who = who or "attack"
        if tuple(x_adv.shape) != tuple(x.shape):
            raise ThreatModelViolation(
                f"{who} returned shape {tuple(x_adv.shape)}, expected {tuple(x.shape)} (same as the input)"
            )
        if x_adv.dtype != x.dtype:
            raise ThreatModelViolation(f"{who} returned dtype {x_adv.dtype}, expected {x.dtype}")
        bad = self.violations(x_adv, x)
        if bool(bad.any()):
            idx = bad.nonzero().flatten()[:5].tolist()
            worst = float(self.distance(x_adv[bad], x[bad]).max())
            raise ThreatModelViolation(
                f"{who} returned {int(bad.sum())} example(s) outside the threat model {self.label} "
                f"with bounds {self.bounds} (first indices {idx}, largest distance {worst:.6g}). "
                "An attack must project onto the eps-ball and clamp to the box before returning."
            )


def torch_isfinite_rows(flat: "torch.Tensor") -> "torch.Tensor":
    import torch

    return torch.isfinite(flat).all(dim=1)
