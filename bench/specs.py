"""Pydantic specs: what a plugin declares about each component, without importing it.

A spec names its implementation lazily (``target="package.module:Class"``), carries a
version to bump whenever results may change, optional paper metadata and the declared
capabilities the planner uses to drop incompatible cells. Specs are frozen and reject
unknown keys, so a typo in a plugin is an error rather than a silent default.
"""
from __future__ import annotations

import re
from enum import Enum
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bench.errors import UsageError
from bench.published import PublishedValue

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

Norm = Literal["Linf", "L2", "unbounded"]


class Kind(str, Enum):
    """The kinds of registered components. A member equals its plain name (``Kind.MODEL == "model"``),
    hashes like it and prints as it, so ``registry.get("model", ...)`` keeps working."""

    DATASET = "dataset"
    MODEL = "model"
    DEFENSE = "defense"
    ATTACK = "attack"
    PROBE = "probe"
    TASK = "task"
    CORRUPTION = "corruption"
    SUITE = "suite"
    CLAIM = "claim"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: "str | Kind") -> "Kind":
        """``value`` as a Kind; an unknown name is a :class:`UsageError` listing the kinds."""
        try:
            return cls(value)
        except ValueError:
            kinds = ", ".join(k.value for k in cls)
            raise UsageError(f"unknown component kind {value!r}; use one of {kinds}") from None


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paper(Frozen):
    """Where a method comes from. ``key`` is a short handle such as ``"P3"`` or ``"Madry2018"``."""

    title: str
    authors: str = ""
    year: Optional[int] = None
    url: str = ""
    key: str = ""


class ComponentSpec(Frozen):
    """Common fields of every registered component.

    ``name`` is the method name inside its plugin; the registry builds the qualified id
    ``<plugin>/<name>`` from the plugin it was registered by.
    """

    kind: str = ""
    name: str
    version: str = Field(description="bump when the component's results may change")
    target: str = Field(description="lazy implementation, 'module:attr'")
    summary: str = ""
    paper: Optional[Paper] = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"name {v!r} must be lower-case letters, digits, '-', '_' or '.' "
                "(it becomes the method part of '<plugin>/<name>')"
            )
        return v

    @field_validator("target")
    @classmethod
    def _check_target(cls, v: str) -> str:
        if not _TARGET.match(v):
            raise ValueError(f"target {v!r} must look like 'package.module:attr'")
        return v

    @field_validator("version")
    @classmethod
    def _check_version(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v):
            raise ValueError(f"version {v!r} must be a non-empty string without spaces, e.g. '1'")
        return v


class DatasetSpec(ComponentSpec):
    """A dataset: image shape (C, H, W) in [0, 1] and number of classes."""

    kind: Literal["dataset"] = "dataset"
    shape: tuple[int, int, int]
    num_classes: int = Field(ge=2)
    embedded: bool = Field(True, description="True when no download or local files are needed")


class ModelSpec(ComponentSpec):
    """An architecture factory ``f(input_shape, num_classes, **config) -> Classifier``."""

    kind: Literal["model"] = "model"
    channels: Optional[list[int]] = Field(None, description="accepted input channels; None = any")
    min_size: int = Field(1, ge=1, description="smallest accepted H and W")
    max_size: Optional[int] = Field(None, description="largest accepted H and W; None = any")
    published: list[PublishedValue] = Field(
        default_factory=list, description="values published for this model's weights (e.g. a RobustBench zoo "
                                          "entry's clean and AutoAttack accuracy), shown beside the measured ones")


class DefenseSpec(ComponentSpec):
    """A training recipe or model wrapper (``bench.api.Defense``)."""

    kind: Literal["defense"] = "defense"
    trains: bool = True
    randomized: bool = Field(False, description="the defended model's output is stochastic")


class AttackSpec(ComponentSpec):
    """An attack (``bench.api.Attack``) and the threat models it supports."""

    kind: Literal["attack"] = "attack"
    norms: list[Norm]
    targeted: bool = Field(False, description="supports targeted threat models")
    untargeted: bool = True
    needs_gradients: bool = True
    minimal: bool = Field(False, description="minimal-perturbation attack (returns distances)")


class ProbeSpec(ComponentSpec):
    """A diagnostic returning scalar ``columns`` for the leaderboard and arrays for plots.

    ``always``: the planner adds the probe to every leaderboard row of every suite (under its
    spec name as label), whether or not the suite lists it, unless the suite sets
    ``integrity = false``. Meant for attack-failure indicators (e.g. ``classics/integrity``);
    keep such probes cheap, they run on every trained model.
    """

    kind: Literal["probe"] = "probe"
    columns: list[str]
    needs_attacks: bool = Field(False, description="consumes the attack stage's outputs")
    needs_train: bool = Field(False, description="also reads the training split")
    always: bool = Field(False, description="run on every row of every suite (unless the suite sets integrity = false)")


class TaskSpec(ComponentSpec):
    """A per-trained-model task (transfer, inversion, ...) returning metrics and artifacts."""

    kind: Literal["task"] = "task"
    columns: list[str]


class CorruptionSpec(ComponentSpec):
    """A common corruption (``bench.api.Corruption``), applied at severities 1..5 (Hendrycks & Dietterich 2019).

    ``deterministic``: the output does not depend on the generator (blur, contrast, jpeg, ...).
    """

    kind: Literal["corruption"] = "corruption"
    family: Literal["noise", "blur", "weather", "digital"]
    deterministic: bool = Field(False, description="the output does not depend on the generator")


class SuiteSpec(ComponentSpec):
    """A named suite: ``target`` is ``'package:relative/path.toml'`` inside the plugin package."""

    kind: Literal["suite"] = "suite"
    description: str = ""

    @field_validator("target")
    @classmethod
    def _check_target(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z_][\w.]*:[\w./\-]+\.toml$", v):
            raise ValueError(f"suite target {v!r} must look like 'package:path/inside/package.toml'")
        return v


class ClaimSpec(ComponentSpec):
    """A paper's qualitative claim as a check ``f(results_frame) -> ClaimResult`` over a suite."""

    kind: Literal["claim"] = "claim"
    suite: str
    statement: str


SPEC_TYPES: dict[Kind, type[ComponentSpec]] = {
    Kind.DATASET: DatasetSpec,
    Kind.MODEL: ModelSpec,
    Kind.DEFENSE: DefenseSpec,
    Kind.ATTACK: AttackSpec,
    Kind.PROBE: ProbeSpec,
    Kind.TASK: TaskSpec,
    Kind.CORRUPTION: CorruptionSpec,
    Kind.SUITE: SuiteSpec,
    Kind.CLAIM: ClaimSpec,
}
