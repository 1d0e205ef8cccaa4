"""Pydantic base for component parameters, and the training budget shared by defenses (torch-free)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    schedule: Literal["constant", "cosine", "cyclic", "step"] = "cosine"
    augment: list[Literal["crop", "flip"]] = Field(default_factory=list)
    crop_padding: int = Field(4, ge=0)
