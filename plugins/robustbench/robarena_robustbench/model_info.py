"""RobustBench's model-info JSON (``model_info/<dataset>/<threat>/<name>.json``): read, write, published values.

RobustBench stores one JSON object per leaderboard entry, accuracies as strings in percent, e.g.
``{"link": ..., "name": "Unlabeled Data Improves Adversarial Robustness", "authors": ...,
"additional_data": true, "number_forward_passes": 1, "dataset": "cifar10", "venue": "NeurIPS 2019",
"architecture": "WideResNet-28-10", "eps": "8/255", "clean_acc": "89.69", "reported": "62.5",
"autoattack_acc": "59.53"}``. :class:`ModelInfo` reads that form (unknown fields are kept),
:func:`model_info_for_row` writes one for a robarena row (clean and worst-case accuracy, fractions
in [0, 1]), and :func:`published_for` gives the published values of a supported zoo model id for a
table's "published" column.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _percent(value: object) -> Optional[str]:
    if value is None or value == "":
        return None
    number = float(str(value).strip().rstrip("%"))
    if not 0.0 <= number <= 100.0:
        raise ValueError(f"accuracy {value!r} is not a percentage in [0, 100]")
    return str(value).strip().rstrip("%")


class ModelInfo(BaseModel):
    """One RobustBench leaderboard entry in its model-info JSON form (accuracies in percent, as strings)."""

    model_config = ConfigDict(extra="allow")

    link: str = ""
    name: str
    authors: str = ""
    additional_data: bool = False
    number_forward_passes: int = 1
    dataset: str = "cifar10"
    venue: str = ""
    architecture: str = ""
    eps: str = Field("8/255", description="the threat's radius as RobustBench writes it, e.g. '8/255' or '0.5'")
    clean_acc: str
    reported: Optional[str] = None
    autoattack_acc: Optional[str] = None
    footnote: Optional[str] = None

    @field_validator("clean_acc", "reported", "autoattack_acc", mode="before")
    @classmethod
    def _check_percent(cls, v: object) -> Optional[str]:
        return _percent(v)

    @property
    def clean(self) -> float:
        """Clean accuracy as a fraction."""
        return float(self.clean_acc) / 100.0

    @property
    def robust(self) -> Optional[float]:
        """AutoAttack accuracy (else the reported one) as a fraction."""
        value = self.autoattack_acc if self.autoattack_acc is not None else self.reported
        return None if value is None else float(value) / 100.0


def read_model_info(source: Union[str, Path, dict]) -> ModelInfo:
    """A model-info JSON file (path), JSON text, or an already-parsed dict, as :class:`ModelInfo`."""
    if isinstance(source, dict):
        return ModelInfo(**source)
    text = str(source)
    if text.lstrip().startswith("{"):
        return ModelInfo(**json.loads(text))
    return ModelInfo(**json.loads(Path(source).read_text()))


def write_model_info(info: ModelInfo, path: Union[str, Path]) -> Path:
    """Write ``info`` in RobustBench's form (only the fields that are set, unknown ones kept)."""
    p = Path(path)
    p.write_text(json.dumps(info.model_dump(exclude_none=True)) + "\n")
    return p


def model_info_for_row(name: str, clean: float, worst_case: float, eps: str, architecture: str = "",
                       dataset: str = "cifar10", link: str = "", authors: str = "", venue: str = "robarena",
                       additional_data: bool = False, footnote: Optional[str] = None) -> ModelInfo:
    """A robarena row (clean and worst-case accuracy as fractions in [0, 1]) in RobustBench's form.

    The worst case over robarena's attacks goes to ``autoattack_acc`` only in the sense of
    RobustBench's column (the entry's robust accuracy); say in ``footnote`` which attacks it is.
    """
    for what, value in (("clean", clean), ("worst_case", worst_case)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{what} accuracy {value!r} must be a fraction in [0, 1]")
    if worst_case > clean:
        raise ValueError(f"worst-case accuracy {worst_case} exceeds clean accuracy {clean}")
    return ModelInfo(name=name, link=link, authors=authors, additional_data=additional_data, dataset=dataset,
                     venue=venue, architecture=architecture, eps=eps, clean_acc=f"{100 * clean:.2f}",
                     reported=f"{100 * worst_case:.2f}", autoattack_acc=f"{100 * worst_case:.2f}", footnote=footnote)


def published_for(model_id: str) -> tuple[float, float, str]:
    """``(clean, robust, source)`` RobustBench publishes for a supported ``robustbench/...`` id.

    Accuracies are fractions (AutoAttack accuracy as the robust one); ``source`` names the
    model-info file and commit. Unsupported ids raise :class:`bench.errors.UnknownComponentError`.
    """
    from robarena_robustbench.zoo import entry_for

    entry = entry_for(model_id)
    return round(entry.clean_acc / 100.0, 6), round(entry.autoattack_acc / 100.0, 6), entry.source


def model_info_for(model_id: str) -> ModelInfo:
    """The published entry of a supported zoo id, in RobustBench's model-info form."""
    from robarena_robustbench.zoo import entry_for

    e = entry_for(model_id)
    return ModelInfo(name=e.paper, link=e.link, dataset=e.dataset, eps=e.eps, clean_acc=f"{e.clean_acc:.2f}",
                     autoattack_acc=f"{e.autoattack_acc:.2f}", architecture=e.description.split(" (")[0])
