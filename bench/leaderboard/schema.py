"""The leaderboard row: one trained (or brought) model with every metric and full provenance.

Numbers are numbers: accuracies are fractions in [0, 1] (rendered as percentages), every
metric is a float or ``None`` when it could not be computed (its cell then has an entry
in ``errors``). Rows are serialized as JSON lines, one per model.
"""
from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="null")


class Provenance(_Strict):
    """What a number depends on. Two rows with equal provenance must hold equal numbers."""

    core_version: str
    plugins: dict[str, str] = Field(description="distribution name -> version, for every plugin involved")
    specs: dict[str, str] = Field(description="qualified component id -> spec version")
    config_hash: str = Field(description="hash of the canonical configuration of the row's cells")
    data_fingerprint: str
    seed: int
    n: int = Field(description="number of evaluation examples")
    device: str
    date: str = Field(description="ISO 8601 UTC time the row's newest cell was computed")
    torch_version: str
    platform: str
    suite: str
    suite_version: str


class Row(_Strict):
    schema_version: str = SCHEMA_VERSION
    row_id: str = Field(description="'<dataset>/<model>/<defense>/seed<seed>' from the suite labels")
    dataset: str
    model: str
    defense: str
    seed: int
    dataset_id: str
    model_id: str
    defense_id: str
    clean_accuracy: Optional[float] = Field(None, ge=0.0, le=1.0)
    robust: dict[str, Optional[float]] = Field(
        default_factory=dict, description="'<attack> <threat>' -> robust accuracy (runner's own forward pass)")
    ensemble: dict[str, Optional[float]] = Field(
        default_factory=dict, description="'<threat>' -> per-example worst case over the suite's attacks")
    probes: dict[str, Optional[float]] = Field(default_factory=dict, description="'<probe>.<column>' -> value")
    tasks: dict[str, Optional[float]] = Field(default_factory=dict, description="'<task>.<metric>' -> value")
    flags: list[str] = Field(default_factory=list, description="attack-failure indicators that fired")
    errors: list[str] = Field(default_factory=list, description="cells of this row that failed, with the error")
    artifacts: dict[str, str] = Field(default_factory=dict, description="name -> content hash in the cache")
    provenance: Provenance

    def metric_columns(self) -> dict[str, Optional[float]]:
        """All metrics flattened to column name -> value (in display order)."""
        out: dict[str, Optional[float]] = {"clean": self.clean_accuracy}
        out.update({f"robust[{k}]": v for k, v in self.robust.items()})
        out.update({f"ensemble[{k}]": v for k, v in self.ensemble.items()})
        out.update({f"probe[{k}]": v for k, v in self.probes.items()})
        out.update({f"task[{k}]": v for k, v in self.tasks.items()})
        return out
