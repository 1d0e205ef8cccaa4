"""Threat models: the set of allowed adversarial examples around a clean input.

``ThreatModel(norm="Linf", eps="8/255")`` allows ``||x_adv - x||_inf <= eps`` inside the box
``bounds`` (default [0, 1]); ``norm="unbounded"`` keeps only the box. ``eps`` is an
:class:`~bench.eps.Eps` (a float with its readable ``display``); ``eps_display`` repeats that
display in ``model_dump`` (cache keys hold both). Radii are checked by
:func:`~bench.eps.check_radius`: 0, nan, negative and meaninglessly large radii are refused.
:class:`ThreatConfig` is the base of component configs with ``norm`` and ``eps`` fields. torch is
imported inside the tensor methods so that specs and suites stay light.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, computed_field, model_validator

from bench.config import BaseConfig
from bench.eps import Eps, EpsRule, check_radius
from bench.errors import ThreatModelViolation

if TYPE_CHECKING:  # pragma: no cover
    import torch

Norm = Literal["Linf", "L2", "unbounded"]
#: slack allowed when checking returned examples (float32 rounding of projections)
CHECK_ATOL = 1e-5


def parse_eps(value: Union[float, int, str]) -> tuple[float, str]:
    """``(float, display)`` of ``0.03``, ``"8/255"`` or ``"inf"`` (:class:`~bench.eps.Eps` rules; 0 allowed)."""
    eps = Eps(value, allow_zero=True, allow_inf=True)
    return float(eps), eps.display


class ThreatModel(BaseModel):
    """Allowed perturbations: ``norm`` ball of radius ``eps`` intersected with the ``bounds`` box."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    norm: Norm = "Linf"
    eps: Annotated[Eps, EpsRule(allow_inf=True)] = Eps("8/255")
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
                data["eps"] = "inf"
            display = data.pop("eps_display", None)  # as model_dump writes it
            if display and "eps" in data:
                data["eps"] = Eps(data["eps"], display, allow_inf=True)
        return data

    @model_validator(mode="after")
    def _check(self) -> "ThreatModel":
        lo, hi = self.bounds
        if not lo < hi:
            raise ValueError(f"bounds {self.bounds} must satisfy low < high")
        if self.norm == "unbounded" and not math.isinf(self.eps):
            raise ValueError("an unbounded threat model has eps = inf; drop eps or pick Linf/L2")
        if self.norm != "unbounded" and math.isinf(self.eps):
            raise ValueError(f"{self.norm} with eps = inf: use norm='unbounded' instead")
        check_radius(self.eps, self.norm, self.bounds)
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def eps_display(self) -> str:
        """The readable radius, e.g. ``8/255`` (``inf`` when unbounded)."""
        return self.eps.display

    @property
    def label(self) -> str:
        """Short readable name, e.g. ``Linf 8/255`` or ``L2 0.5 targeted``."""
        base = "unbounded" if self.norm == "unbounded" else f"{self.norm} {self.eps.display}"
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


class ThreatConfig(BaseConfig):
    """Base of component configs that carry a threat model as fields ``norm`` and ``eps``.

    Subclasses declare ``norm: Literal["Linf", "L2"]`` and ``eps: Eps``; validation then checks the
    radius for the norm (:func:`~bench.eps.check_radius`) and :meth:`threat` builds the model.
    """

    def threat(self) -> ThreatModel:
        """The untargeted threat model ``norm``/``eps`` on the [0, 1] box."""
        return ThreatModel(norm=self.norm, eps=self.eps)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _radius_fits_norm(self) -> "ThreatConfig":
        check_radius(self.eps, self.norm)  # type: ignore[attr-defined]
        return self
