"""Pydantic base for component parameters, and the training budget shared by defenses (torch-free)."""
from __future__ import annotations

import math
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BaseConfig(BaseModel):
    """Parameters of one component. Unknown keys are errors; instances are frozen and hashable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainConfig(BaseConfig):
    """Training budget given to every defense (the suite's ``[train]`` table).

    Defaults are a small CPU budget; paper suites set their own (e.g. P3: 15 epochs,
    batch 128, cyclic LR with max 0.2, SGD momentum 0.9, weight decay 2e-4).
    """

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.05, gt=0, allow_inf_nan=False)
    momentum: float = Field(0.9, ge=0, lt=1, allow_inf_nan=False)
    weight_decay: float = Field(5e-4, ge=0, allow_inf_nan=False)
    schedule: Literal["constant", "cosine", "cyclic", "step"] = "cosine"
    augment: list[Literal["crop", "flip", "resized_crop"]] = Field(default_factory=list)
    crop_padding: int = Field(4, ge=0)
    resized_crop_scale: tuple[float, float] = Field(
        (0.08, 1.0), description="'resized_crop': range of the crop's area as a fraction of the image "
        "(torchvision RandomResizedCrop's default)")
    resized_crop_ratio: tuple[float, float] = Field(
        (3 / 4, 4 / 3), description="'resized_crop': range of the crop's aspect ratio w/h (torchvision's default)")
    milestones: list[int] = Field(default_factory=list, description="'step': epochs at which the lr is multiplied "
                                  "by gamma (P0: [80, 120] of 160); empty: once, at half of training")
    gamma: float = Field(0.1, gt=0, le=1, allow_inf_nan=False,
                         description="'step': the factor applied at each milestone")
    cyclic_peak_epoch: Optional[float] = Field(None, gt=0, allow_inf_nan=False,
                                               description="'cyclic': the epoch at which the lr peaks "
                                               "(P3: 7 of 15); None: at 2/5 of training")

    @model_validator(mode="after")
    def _schedule_fits_training(self) -> "TrainConfig":
        if any(b <= a for a, b in zip(self.milestones, self.milestones[1:])):
            raise ValueError(f"milestones {self.milestones} must be strictly increasing epochs")
        if self.milestones and not (0 < self.milestones[0] and self.milestones[-1] < self.epochs):
            raise ValueError(f"milestones {self.milestones} must lie in 1..{self.epochs - 1} (epochs = {self.epochs})")
        if self.cyclic_peak_epoch is not None and self.cyclic_peak_epoch >= self.epochs:
            raise ValueError(f"cyclic_peak_epoch {self.cyclic_peak_epoch} must be below epochs ({self.epochs})")
        lo, hi = self.resized_crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"resized_crop_scale {self.resized_crop_scale} must satisfy 0 < low <= high <= 1")
        lo, hi = self.resized_crop_ratio
        if not (0 < lo <= hi and math.isfinite(hi)):
            raise ValueError(f"resized_crop_ratio {self.resized_crop_ratio} must satisfy 0 < low <= high (finite)")
        return self

    def key_dict(self) -> dict[str, Any]:
        """The fields as JSON for cache keys. The schedule details added in core 0.1's second
        revision (milestones, gamma, cyclic_peak_epoch) appear only when not at their defaults,
        so trainings stored before them keep their keys; so do the resized-crop ranges (added later)."""
        out = self.model_dump(mode="json")
        for name in ("milestones", "gamma", "cyclic_peak_epoch", "resized_crop_scale", "resized_crop_ratio"):
            default = type(self).model_fields[name].get_default(call_default_factory=True)
            if out[name] == (list(default) if isinstance(default, tuple) else default):
                del out[name]
        return out
