"""Published values (e.g. RobustBench's) for a brought model, and RobustBench's model-info JSON format.

A :class:`PublishedValue` is a number someone else measured for a model: its clean accuracy, or its
robust accuracy under a threat (norm, eps) with the evaluation used (e.g. AutoAttack). Such values
reach a row from data only: a model spec's ``published`` field (the ``robustbench`` plugin fills it
for every zoo entry), a ``[[pretrained]]`` entry's ``model_info = "file.json"`` and its inline
``published = [...]``. They are labels beside the measured numbers (``Row.published``), never inputs.

RobustBench stores one JSON object per leaderboard entry (``model_info/<dataset>/<threat>/<name>.json``),
accuracies as strings in percent, e.g. ``{"link": ..., "name": "Unlabeled Data Improves Adversarial
Robustness", "additional_data": true, "number_forward_passes": 1, "dataset": "cifar10", "venue":
"NeurIPS 2019", "architecture": "WideResNet-28-10", "eps": "8/255", "clean_acc": "89.69", "reported":
"62.5", "autoattack_acc": "59.53"}``. The file names no norm (the directory does) and its ``eps`` is
the entry's training radius (``"0.031"`` for Zhang2019Theoretically); the published AutoAttack value is
at the leaderboard's radius (:data:`LEADERBOARD_EPS`). The file is read as JSON data, never executed.
Torch-free.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.errors import ConfigError

#: RobustBench's threat radius per (dataset, norm): the radius its AutoAttack values are measured at.
LEADERBOARD_EPS: dict[tuple[str, str], str] = {
    ("cifar10", "Linf"): "8/255", ("cifar10", "L2"): "0.5", ("cifar100", "Linf"): "8/255", ("imagenet", "Linf"): "4/255",
}
NORMS = ("Linf", "L2")


class PublishedValue(BaseModel):
    """One published value: ``metric`` 'clean' or 'robust' (the latter at ``norm`` and ``eps``).

    Args:
        metric: 'clean' or 'robust'.
        norm: 'Linf' or 'L2' (robust values only).
        eps: the radius as a number or text such as ``"8/255"`` (robust values only); ``eps_display``
            keeps the text.
        evaluation: how the source measured it, e.g. ``"AutoAttack (standard)"`` (default ``""``).
        value: accuracy as a fraction in [0, 1] (59.53 % is 0.5953).
        source: where the value comes from (name and link).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Literal["clean", "robust"]
    norm: Optional[Literal["Linf", "L2"]] = None
    eps: Optional[float] = None
    eps_display: str = ""
    evaluation: str = ""
    value: float
    source: str

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        norm = data.get("norm")
        if isinstance(norm, str) and norm.lower() in {"linf", "l_inf", "inf"}:
            data["norm"] = "Linf"
        elif isinstance(norm, str) and norm.lower() in {"l2", "l_2"}:
            data["norm"] = "L2"
        eps = data.get("eps")
        if eps is not None and not isinstance(eps, bool):
            from bench.eps import Eps

            parsed = Eps(eps)  # a clear error for '8/25x', 0 or a negative radius
            data["eps"] = float(parsed)
            data.setdefault("eps_display", parsed.display)
        return data

    @field_validator("value")
    @classmethod
    def _check_value(cls, v: float) -> float:
        if not math.isfinite(v) or not 0.0 <= v <= 1.0:
            hint = f" ({v:g} % is {v / 100:g})" if math.isfinite(v) and 1.0 < v <= 100.0 else ""
            raise ValueError(f"value {v!r} must be an accuracy as a fraction in [0, 1]{hint}")
        return v

    @model_validator(mode="after")
    def _check_threat(self) -> "PublishedValue":
        if self.metric == "robust" and (self.norm is None or self.eps is None):
            raise ValueError("a published robust value needs its threat: norm ('Linf' or 'L2') and eps (e.g. '8/255')")
        if self.metric == "clean" and (self.norm is not None or self.eps is not None):
            raise ValueError("a published clean value has no threat: leave out norm and eps")
        return self

    @property
    def key(self) -> tuple:
        """What the value is of: (metric, norm, eps rounded to 1e-9); a later value of the same key replaces it."""
        return (self.metric, self.norm, None if self.eps is None else round(self.eps, 9))


def merge_published(*groups: Any) -> tuple[PublishedValue, ...]:
    """The values of ``groups`` in order; a later value replaces an earlier one of the same
    :attr:`~PublishedValue.key`."""
    out: dict[tuple, PublishedValue] = {}
    for group in groups:
        for value in group or ():
            out[value.key] = value
    return tuple(out.values())


# --------------------------------------------------------------------------- RobustBench model-info JSON

def _percent(value: object) -> Optional[str]:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"accuracy {value!r} is not a percentage; write it as RobustBench does, e.g. \"59.53\"")
    text = str(value).strip().rstrip("%").strip()
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"accuracy {value!r} is not a number; write it in percent as RobustBench does, "
                         "e.g. \"59.53\"") from None
    if not 0.0 <= number <= 100.0:
        raise ValueError(f"accuracy {value!r} is not a percentage in [0, 100]")
    return text


class ModelInfo(BaseModel):
    """One RobustBench leaderboard entry in its model-info JSON form (accuracies in percent, as strings).

    Unknown fields are kept (robarena's export adds ``threat_model``, ``evaluation``,
    ``evaluation_eps`` and ``robarena`` (provenance))."""

    model_config = ConfigDict(extra="allow")

    link: str = ""
    name: str
    authors: str = ""
    additional_data: bool = False
    number_forward_passes: int = 1
    dataset: str = "cifar10"
    venue: str = ""
    architecture: str = ""
    eps: str = Field("8/255", description="the entry's radius as RobustBench writes it, e.g. '8/255' or '0.5'")
    clean_acc: str
    reported: Optional[str] = None
    autoattack_acc: Optional[str] = None
    footnote: Optional[str] = None

    @field_validator("clean_acc", "reported", "autoattack_acc", mode="before")
    @classmethod
    def _check_percent(cls, v: object) -> Optional[str]:
        return _percent(v)

    @field_validator("eps", mode="before")
    @classmethod
    def _check_eps(cls, v: object) -> object:
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @property
    def clean(self) -> float:
        """Clean accuracy as a fraction."""
        return float(self.clean_acc) / 100.0

    @property
    def robust(self) -> Optional[float]:
        """AutoAttack accuracy (else the reported one) as a fraction."""
        value = self.autoattack_acc if self.autoattack_acc is not None else self.reported
        return None if value is None else float(value) / 100.0


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(the object)"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"field {field!r}: {msg}" if err["type"] != "missing" else f"field {field!r} is missing")
    return "; ".join(parts)


def read_model_info(source: Union[str, Path, dict]) -> ModelInfo:
    """A model-info JSON file (path), JSON text, or an already-parsed dict, as :class:`ModelInfo`.

    A file that cannot be read, is not JSON, or whose fields do not validate is a
    :class:`~bench.errors.ConfigError` naming the file and the field."""
    where = "model-info JSON"
    if isinstance(source, dict):
        data: Any = source
    else:
        text = str(source)
        if not text.lstrip().startswith("{"):
            where = f"model-info file {text!r}"
            path = Path(text).expanduser()
            if not path.is_file():
                what = "is a directory" if path.is_dir() else "does not exist"
                raise ConfigError(f"{where} {what}; give the path of a RobustBench model-info .json file")
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read {where}: {exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} holds a JSON {type(data).__name__}, expected one object (RobustBench's "
                          "model_info/<dataset>/<threat>/<name>.json form)")
    try:
        return ModelInfo(**data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_validation_message(exc)}") from None


def write_model_info(info: ModelInfo, path: Union[str, Path]) -> Path:
    """Write ``info`` in RobustBench's form (only the fields that are set, unknown ones kept)."""
    p = Path(path)
    p.write_text(json.dumps(info.model_dump(exclude_none=True), indent=2) + "\n")
    return p


def model_info_for_row(name: str, clean: float, worst_case: float, eps: str, architecture: str = "",
                       dataset: str = "cifar10", link: str = "", authors: str = "", venue: str = "robarena",
                       additional_data: bool = False, footnote: Optional[str] = None, **extra: Any) -> ModelInfo:
    """A robarena row (clean and worst-case accuracy as fractions in [0, 1]) in RobustBench's form.

    The worst case over robarena's attacks goes to ``autoattack_acc`` only in the sense of
    RobustBench's column (the entry's robust accuracy); say in ``footnote`` (and ``evaluation``,
    passed through ``extra`` as other unknown fields) which attacks it is."""
    for what, value in (("clean", clean), ("worst_case", worst_case)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{what} accuracy {value!r} must be a fraction in [0, 1]")
    if worst_case > clean:
        raise ValueError(f"worst-case accuracy {worst_case} exceeds clean accuracy {clean}")
    return ModelInfo(name=name, link=link, authors=authors, additional_data=additional_data, dataset=dataset,
                     venue=venue, architecture=architecture, eps=eps, clean_acc=f"{100 * clean:.2f}",
                     reported=f"{100 * worst_case:.2f}", autoattack_acc=f"{100 * worst_case:.2f}", footnote=footnote,
                     **extra)


def _norm_of(info: ModelInfo, path: Optional[Path]) -> Optional[str]:
    declared = (info.model_extra or {}).get("threat_model")
    if declared is not None:
        return declared
    if path is not None and path.parent.name in NORMS:  # model_info/<dataset>/<threat>/<name>.json
        return path.parent.name
    return None


def published_from_model_info(info: ModelInfo, norm: Optional[str], source: str,
                              where: str = "model-info JSON") -> list[PublishedValue]:
    """The clean and robust values of a model-info entry.

    The robust value (AutoAttack's, else the authors' ``reported`` one) is at ``evaluation_eps`` when
    the file gives it (robarena's export), else at RobustBench's leaderboard radius for (dataset,
    norm) (:data:`LEADERBOARD_EPS`), else at the file's ``eps``."""
    extra = info.model_extra or {}
    out = [PublishedValue(metric="clean", value=info.clean, source=source,
                          evaluation=str(extra.get("clean_evaluation", "clean test set")))]
    if info.robust is None:
        return out
    if norm not in NORMS:
        raise ConfigError(f"{where}: cannot tell the threat model ({norm!r}); RobustBench keeps it in the "
                          "directory name (model_info/<dataset>/Linf/<name>.json): put the file under a directory "
                          "named Linf or L2, add \"threat_model\": \"Linf\" to it, or give the values inline with "
                          "published = [...]")
    eps = extra.get("evaluation_eps") or LEADERBOARD_EPS.get((info.dataset, norm)) or info.eps
    if "evaluation" in extra:
        evaluation = str(extra["evaluation"])
    else:
        evaluation = "AutoAttack (standard)" if info.autoattack_acc is not None else "reported by the authors"
    try:
        robust = PublishedValue(metric="robust", norm=norm, eps=eps, value=info.robust,  # type: ignore[arg-type]
                                source=source, evaluation=evaluation)
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"{where}: field 'eps' ({eps!r}): {exc}") from None
    return [out[0], robust]


def load_model_info(path: Union[str, Path]) -> list[PublishedValue]:
    """The published values of a RobustBench model-info JSON file (see :func:`published_from_model_info`);
    the norm comes from a ``threat_model`` field, else from the directory name (``.../Linf/<name>.json``)."""
    info = read_model_info(str(path))
    p = Path(path).expanduser()
    source = f"{info.name}{' <' + info.link + '>' if info.link else ''} (model-info file {p.name})"
    return published_from_model_info(info, _norm_of(info, p), source, f"model-info file {str(path)!r}")
