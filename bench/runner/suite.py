"""Suites: what to evaluate, as a pydantic model loadable from TOML or shipped by a plugin.

A suite names datasets, models, defenses (with parameters and a training budget),
attacks with threat models (``eps`` may be a list: one cell per value), probes, tasks,
seeds and the evaluation subset. A probe's ``epochs`` also runs it at those training epochs
(:class:`ProbeRef`). ``integrity = false`` leaves out the probes registered
with ``always = True`` (the attack-failure indicators), which otherwise run on every row. ``[[corruptions]]``
name common corruptions and severities (``corruption_baseline``: the row the mCE compares with). ``[[pretrained]]`` entries bring already-trained models
(a registered architecture, ``timm/<name>`` or ``module:factory`` plus a checkpoint).
Suite files are data: TOML is parsed, never executed.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench._compat import tomllib
from bench.config import TrainConfig
from bench.errors import UnknownComponentError, UsageError
from bench.published import PublishedValue
from bench.threat import ThreatModel

EpsValue = Union[float, str]
MAX_NAME_LENGTH = 100  # suite names and leaderboard versions are directory names
_LABEL = re.compile(r"^[^/\s][^/]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ref(_Strict):
    """A component by id with parameters; ``label`` names it in the leaderboard."""

    id: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: Optional[str] = None

    @field_validator("label")
    @classmethod
    def _check_label(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _LABEL.match(v):
            raise ValueError(f"label {v!r} must be non-empty and contain no '/'")
        return v


class DefenseRef(Ref):
    """A defense; ``train`` overrides keys of the suite's ``[train]`` budget for this defense only."""

    train: dict[str, Any] = Field(default_factory=dict)


class ModelRef(Ref):
    """A model; ``train`` overrides keys of the suite's ``[train]`` budget for this model (e.g. P0's
    lr 0.01 for VGG13 and 0.1 for the ResNets); a defense's own overrides come on top."""

    train: dict[str, Any] = Field(default_factory=dict)


class SubstituteRef(_Strict):
    """A substitute model the runner trains on the same data for a black-box transfer attack (P4)."""

    model: str
    model_params: dict[str, Any] = Field(default_factory=dict)
    defense: str = "standard"
    defense_params: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the suite's [train] table")


class AttackRef(Ref):
    """An attack with its threat model; a list ``eps`` expands into one cell per value.

    With ``substitute``, the attack is crafted on that substitute model (trained by the runner on
    the row's dataset and seed) and scored on the row's model: a black-box transfer attack.
    """

    norm: Literal["Linf", "L2", "unbounded", "linf", "l2"] = "Linf"
    eps: Union[EpsValue, list[EpsValue], None] = None
    targeted: bool = False
    substitute: Optional[SubstituteRef] = None

    @field_validator("eps", mode="before")
    @classmethod
    def _check_eps_values(cls, v: Any) -> Any:
        if isinstance(v, list) and not v:  # would silently drop the attack
            raise ValueError("eps = [] lists no radius, so the attack would never run; give one (eps = 0.1) or "
                             "several (eps = [0.05, 0.1])")
        for value in v if isinstance(v, list) else [v]:
            if isinstance(value, bool):  # TOML true would otherwise be read as eps 1.0
                raise ValueError(f"eps = {str(value).lower()} is a boolean; give a radius such as 0.03 or '8/255'")
        return v

    def threats(self) -> list[ThreatModel]:
        values = self.eps if isinstance(self.eps, list) else [self.eps]
        out = []
        for value in values:
            data: dict[str, Any] = {"norm": self.norm, "targeted": self.targeted}
            if value is not None:
                data["eps"] = value
            out.append(ThreatModel(**data))
        return out

    @model_validator(mode="after")
    def _validate_threats(self) -> "AttackRef":
        if self.eps is None and self.norm.lower() != "unbounded":
            raise ValueError(f"attack {self.id!r} needs eps (e.g. eps = '8/255' or eps = [0.05, 0.1])")
        self.threats()
        return self


def _whole_numbers(v: Any, allowed: Any, *, empty: str, bad: str, twice: str) -> list[int]:
    """``v`` (an int or a list of ints) as a list: non-empty, each an ``allowed`` int (not a bool), none
    twice; else ValueError with the given message (``bad`` and ``twice`` formatted with the value)."""
    values = v if isinstance(v, list) else [v]
    if not values:
        raise ValueError(empty)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not allowed(value):
            raise ValueError(bad.format(value))
    if len(set(values)) != len(values):
        raise ValueError(twice.format(values))
    return values


class ProbeRef(Ref):
    """A probe; ``epochs`` (e.g. ``[1, 2, 5, 10]``) also runs it at those training epochs ("probes over
    training"): on the weights each row's training had after that many epochs, one cell per epoch,
    beside the ordinary cell on the final model. Only for rows the suite trains, and not for probes
    that read the row's attacks (``needs_attacks``): the plan refuses both."""

    epochs: Optional[list[int]] = None

    @field_validator("epochs", mode="before")
    @classmethod
    def _check_epochs(cls, v: Any) -> Any:
        if v is None:  # not given (a dumped suite writes None back)
            return v
        return sorted(_whole_numbers(
            v, lambda x: x >= 1, empty="epochs = [] lists no epoch; leave it out (the final model only) or give "
                                       "epochs such as epochs = [1, 2, 5, 10]",
            bad="epoch {!r} is not a whole number >= 1 (epoch k = the weights after k epochs of training); "
                "write e.g. epochs = [1, 2, 5, 10]", twice="epochs {} lists an epoch twice; list each once"))


SEVERITIES = (1, 2, 3, 4, 5)


class CorruptionRef(Ref):
    """A common corruption at ``severity`` (an int 1..5 or a list of them; default all five): one cell
    per severity. ``id = "<plugin>/*"`` (e.g. ``"corruptions/*"``) stands for every corruption that
    plugin registers, each under its own name (then without ``label``)."""

    severity: Union[int, list[int]] = Field(default_factory=lambda: list(SEVERITIES))

    @field_validator("severity", mode="before")
    @classmethod
    def _check_severity(cls, v: Any) -> Any:
        _whole_numbers(v, lambda x: x in SEVERITIES,
                       empty="severity = [] lists no severity, so the corruption would never run; give one "
                             "(severity = 3) or several (severity = [1, 3, 5]), or leave it out for all five",
                       bad="severity {!r} is not an int in 1..5 (the corruption severities of Hendrycks & "
                           "Dietterich 2019); write e.g. severity = 3 or severity = [1, 3, 5]",
                       twice="severity {} lists a severity twice; list each once")
        return v

    @model_validator(mode="after")
    def _check_wildcard(self) -> "CorruptionRef":
        if self.id.endswith("/*") and self.label is not None:
            raise ValueError(f"corruption {self.id!r} stands for several corruptions: leave out label (each is "
                             "labelled by its own name)")
        return self

    def severities(self) -> list[int]:
        return sorted(self.severity) if isinstance(self.severity, list) else [self.severity]


class PretrainedRef(_Strict):
    """Bring your own model: an architecture plus a checkpoint, evaluated without training.

    ``arch``: a registered model id, ``timm/<name>`` or ``package.module:factory``
    (called as ``factory(**arch_params)``, must return an ``nn.Module`` on [0, 1] inputs
    unless ``mean``/``std`` are given). ``checkpoint``: ``.safetensors`` or a weights-only
    torch file (``.pt``/``.pth``), never unpickled. ``model_info``: a RobustBench model-info JSON file
    and ``published``: values given inline (:class:`bench.published.PublishedValue`, e.g. ``{metric =
    "robust", norm = "Linf", eps = "8/255", value = 0.5953, source = "..."}``), shown beside the
    measured values (a later one replaces the architecture's and the file's of the same metric and threat).
    """

    label: str
    arch: str
    checkpoint: str
    dataset: str
    dataset_params: dict[str, Any] = Field(default_factory=dict)
    arch_params: dict[str, Any] = Field(default_factory=dict)
    mean: Optional[list[float]] = None
    std: Optional[list[float]] = None
    model_info: Optional[str] = Field(None, description="a RobustBench model-info JSON file: its published "
                                                        "clean and robust accuracy go beside the measured ones")
    published: list[PublishedValue] = Field(default_factory=list, description="published values given inline")

    @field_validator("label")
    @classmethod
    def _check_label(cls, v: str) -> str:
        if not _LABEL.match(v):  # the label is the row's model name: row ids are '<dataset>/<label>/...'
            raise ValueError(f"label {v!r} must be non-empty and contain no '/'")
        return v


class EvalConfig(_Strict):
    """The evaluation subset: the first ``n`` test examples, in batches of ``batch_size``."""

    n: int = Field(500, ge=1)
    batch_size: int = Field(256, ge=1)
    # eps sweeps: an example an attack fooled at a smaller eps (same attack, norm, targets) keeps that
    # adversarial example at the larger eps instead of being attacked again; robust accuracy at eps is
    # then "no adversarial example found at any swept eps' <= eps" (monotone in eps)
    reuse_smaller_eps: bool = False


class Suite(_Strict):
    name: str
    version: str = "1"
    description: str = ""
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    datasets: list[Ref] = Field(default_factory=list)
    models: list[ModelRef] = Field(default_factory=list)
    defenses: list[DefenseRef] = Field(default_factory=list)
    pretrained: list[PretrainedRef] = Field(default_factory=list)
    attacks: list[AttackRef] = Field(default_factory=list)
    probes: list[ProbeRef] = Field(default_factory=list)
    tasks: list[Ref] = Field(default_factory=list)
    corruptions: list[CorruptionRef] = Field(default_factory=list)
    corruption_baseline: Optional[str] = Field(
        None, description="the row the (relative) mCE compares with: '<model label>/<defense label>' or a "
                          "[[pretrained]] label, matched within the same dataset and seed")
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    integrity: bool = Field(True, description="add the always-run probes (attack-failure indicators) to every row")

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if len(v) > MAX_NAME_LENGTH:
            raise ValueError(f"suite name {v[:24]!r}... is {len(v)} characters long; use at most {MAX_NAME_LENGTH}")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", v):
            raise ValueError(f"suite name {v!r} may hold letters, digits, '.', '-' and '_' only")
        return v

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, v: list[int]) -> list[int]:
        dup = sorted({s for s in v if v.count(s) > 1})
        if dup:
            raise ValueError(f"duplicate seed {dup[0]}: list each seed once (a seed trains every model once)")
        return v

    @model_validator(mode="after")
    def _check_baseline(self) -> "Suite":
        if self.corruption_baseline is not None and not self.corruptions:
            raise ValueError("corruption_baseline is set but the suite lists no [[corruptions]]; add corruptions "
                             "or remove corruption_baseline")
        return self

    @model_validator(mode="after")
    def _check_nonempty(self) -> "Suite":
        trained = self.datasets and self.models and self.defenses
        if not trained and not self.pretrained:
            raise ValueError("a suite needs datasets, models and defenses, or [[pretrained]] entries")
        return self


def _format_validation(exc: ValidationError, where: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/user-guide.md for the suite format)"
        lines.append(f"  {loc}: {msg}")
    return f"invalid suite {where}:\n" + "\n".join(lines)


def suite_from_dict(data: dict[str, Any], where: str = "(dict)") -> Suite:
    try:
        return Suite(**data)
    except ValidationError as exc:
        raise UsageError(_format_validation(exc, where)) from None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError as exc:  # e.g. a name longer than the file system allows
        text = str(path)
        raise UsageError(f"suite {text[:24]!r}... ({len(text)} characters) is neither a suite name nor a readable "
                         f"file ({exc.strerror}); give a suite name (at most {MAX_NAME_LENGTH} characters) or the "
                         "path of a suite file") from None


def load_suite_file(path: Union[str, Path]) -> Suite:
    path = Path(path)
    if not _is_file(path):
        if path.is_dir():
            raise UsageError(f"{str(path)!r} is a directory, expected a suite name or a .toml file")
        raise UsageError(f"suite file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"suite file {str(path)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                         f"{exc.start}): a suite file is TOML; check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"suite file {str(path)!r} is not valid TOML: {exc}") from None
    return suite_from_dict(data, where=str(path))


def resolve_suite(suite: Any, registry: Any = None) -> Suite:
    """A Suite, a dict, a path to a ``.toml`` file, or the name of a plugin-shipped suite."""
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, dict):
        return suite_from_dict(suite)
    text = str(suite)
    if text.endswith(".toml") or _is_file(Path(text)):
        return load_suite_file(text)
    if registry is None:
        from bench.registry import get_registry

        registry = get_registry()
    try:
        entry = registry.get("suite", text)
    except UnknownComponentError:
        if Path(text).is_dir():  # `robarena run .`
            raise UsageError(f"{text!r} is a directory, expected a suite name or a .toml file") from None
        raise
    package, _, resource = entry.spec.target.partition(":")
    from importlib import resources

    try:
        content = resources.files(package).joinpath(resource).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise UsageError(f"suite {entry.qualified_id!r}: cannot read {entry.spec.target!r} ({exc})") from None
    return suite_from_dict(tomllib.loads(content), where=entry.qualified_id)
