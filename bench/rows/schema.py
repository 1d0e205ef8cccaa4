"""The leaderboard row, schema version 2: typed results with counts, parameters and provenance.

A row is one trained (or brought) model. Its results are typed entries, never text labels:

- :class:`Accuracy` — a fraction with its count ``correct`` of ``n`` and a 95 % Clopper–Pearson
  interval ``[low, high]`` (the clean accuracy, each attack's robust accuracy, each worst case);
- :class:`AttackResult` — (attack id, its parameters, threat as norm/eps/targeted, accuracy);
- :class:`WorstCase` — the per-example worst case over the suite's attacks at one threat;
- :class:`MetricResult` — (probe or task id, its parameters, column, value; for probes over
  training, the ``epoch`` whose weights it measured: the row then holds a curve per column);
- :class:`CorruptionResult` / :class:`CorruptionSummary` — accuracy per common corruption and
  severity, their mean (:class:`MeanAccuracy`) and (relative) mCE against a baseline row;
- :class:`CertifiedResult` — a certified accuracy beside the empirical one at the same radius;
- :class:`PublishedResult` — a value published elsewhere (e.g. RobustBench) for this model.

Code that needs a number selects it by these parameters (:meth:`Row.attack`, :meth:`Row.worst`,
:meth:`Row.metric`). Labels such as ``"pgd Linf 8/255"`` are produced only where results are
shown (:mod:`bench.rows.labels`: terminal, CSV, HTML, LaTeX). Accuracies are fractions in [0, 1];
a metric that could not be computed is ``None`` and its cell has an entry in ``errors``.
Version-1 rows (label-keyed dicts) are read through :mod:`bench.rows.legacy`.
"""
from __future__ import annotations

import math
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "2"
INTERVAL_LEVEL = 0.95


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="null")


class Accuracy(_Strict):
    """``correct`` of ``n`` examples, with the 95 % Clopper–Pearson interval of the fraction."""

    value: float = Field(ge=0.0, le=1.0, description="correct / n")
    correct: int = Field(ge=0)
    n: int = Field(ge=0)
    low: float = Field(ge=0.0, le=1.0, description="lower end of the 95 % Clopper-Pearson interval")
    high: float = Field(ge=0.0, le=1.0, description="upper end of the 95 % Clopper-Pearson interval")

    @classmethod
    def of(cls, correct: int, n: int) -> "Accuracy":
        """The accuracy of ``correct`` out of ``n`` with its exact interval (n = 0: value 0, interval [0, 1])."""
        from bench.stats import proportion_interval

        ci = proportion_interval(int(correct), int(n), level=INTERVAL_LEVEL, method="clopper-pearson")
        value = correct / n if n else 0.0
        return cls(value=value, correct=int(correct), n=int(n), low=float(ci.low), high=float(ci.high))

    @classmethod
    def from_fraction(cls, value: float, n: int) -> "Accuracy":
        """From a stored fraction ``k / n`` (exact: ``round(value * n)`` recovers k)."""
        return cls.of(int(round(value * n)), n)


class Threat(_Strict):
    """A threat model as data: ``norm`` ball of radius ``eps`` (``eps_display`` as written), targeted or not."""

    norm: str = Field(description="'Linf', 'L2' or 'unbounded'")
    eps: Optional[float] = Field(description="radius; None for 'unbounded'")
    eps_display: str = Field(description="the radius as the suite wrote it, e.g. '8/255'")
    targeted: bool = False

    def matches(self, norm: Optional[str] = None, eps: Optional[float] = None,
                targeted: Optional[bool] = None) -> bool:
        """Whether this threat has the given norm, radius (relative tolerance 1e-9) and targeting."""
        if norm is not None and self.norm != norm:
            return False
        if targeted is not None and self.targeted != targeted:
            return False
        if eps is not None:
            if self.eps is None or not math.isclose(self.eps, float(eps), rel_tol=1e-9, abs_tol=1e-12):
                return False
        return True


class AttackResult(_Strict):
    """One attack cell of the row: robust accuracy by the runner's own forward pass."""

    attack_id: str = Field(description="qualified component id, e.g. 'classics/pgd'")
    label: str = Field(description="the suite's label of the attack entry")
    params: dict[str, Any] = Field(default_factory=dict, description="the attack's validated parameters")
    threat: Threat
    substitute: Optional[str] = Field(None, description="transfer attacks: '<model id> trained by <defense id>'")
    accuracy: Optional[Accuracy] = Field(None, description="None when the cell failed")


class WorstCase(_Strict):
    """Per-example worst case over every attack of the row at one threat model."""

    threat: Threat
    attacks: list[str] = Field(description="labels of the attack entries that make up the worst case")
    accuracy: Optional[Accuracy] = Field(None, description="None when any member cell failed")


class MetricResult(_Strict):
    """One scalar a probe or task returned."""

    kind: Literal["probe", "task"]
    source_id: str = Field(description="qualified id of the probe or task")
    label: str = Field(description="the suite's label of the probe or task entry")
    params: dict[str, Any] = Field(default_factory=dict)
    column: str
    value: Optional[float] = None
    epoch: Optional[int] = Field(None, ge=1, description="probes over training: measured on the weights after "
                                                         "this many epochs; None: the final model")


class MeanAccuracy(_Strict):
    """A mean of per-example accuracies over several conditions (e.g. 15 corruptions x 5 severities).

    ``value`` = ``total_correct / total_trials``; the interval is over the ``n`` examples, not over
    the trials (the conditions share their examples): the Clopper–Pearson interval of ``value * n``
    successes in ``n`` (a per-example mean in [0, 1] varies no more than a Bernoulli of the same
    mean, so the interval is conservative).
    """

    value: float = Field(ge=0.0, le=1.0)
    total_correct: int = Field(ge=0)
    total_trials: int = Field(ge=0)
    n: int = Field(ge=0, description="number of examples")
    low: float = Field(ge=0.0, le=1.0)
    high: float = Field(ge=0.0, le=1.0)


class CorruptionResult(_Strict):
    """Accuracy under one common corruption at one severity (Hendrycks & Dietterich 2019).

    Counted over all evaluation examples (not only the clean-correct ones), as the corruption
    track does.
    """

    corruption_id: str = Field(description="qualified component id, e.g. 'corruptions/gaussian_noise'")
    label: str = Field(description="the suite's label of the corruption entry")
    family: str = Field("", description="'noise', 'blur', 'weather' or 'digital'")
    severity: int = Field(ge=1, le=5)
    accuracy: Optional[Accuracy] = Field(None, description="None when the cell failed")


class CorruptionSummary(_Strict):
    """The corruption track's headline: mean corruption accuracy over the row's corruptions and
    severities, and (when the suite names a baseline row) mCE and relative mCE against it."""

    mean: Optional[MeanAccuracy] = Field(None, description="None when any member cell failed")
    corruptions: list[str] = Field(default_factory=list, description="labels of the corruptions averaged")
    severities: list[int] = Field(default_factory=list)
    baseline: Optional[str] = Field(None, description="row id of the baseline row of the (relative) mCE")
    mce: Optional[float] = Field(None, description="mean over corruptions of sum_s E / sum_s E_baseline")
    relative_mce: Optional[float] = Field(None, description="mean over corruptions of sum_s (E - E_clean) / "
                                                             "sum_s (E_baseline - E_baseline_clean)")


class PublishedResult(_Strict):
    """A value published elsewhere for this model (e.g. the RobustBench zoo), shown beside the measured one."""

    metric: Literal["clean", "robust"]
    threat: Optional[Threat] = Field(None, description="the threat model of a robust value; None for clean")
    evaluation: str = Field("", description="how the source measured it, e.g. 'AutoAttack (standard)'")
    value: float = Field(ge=0.0, le=1.0, description="a fraction in [0, 1]")
    source: str = Field(description="where the value comes from (name and link)")


class CertifiedResult(_Strict):
    """A certified (lower-bound) accuracy beside the empirical (upper-bound) robust accuracy of the
    same classifier at the same radius: the sandwich ``certified <= true robust <= empirical``."""

    source_id: str = Field(description="qualified id of the probe that certified, e.g. 'certify/ibp'")
    label: str = Field(description="the suite's label of that probe")
    classifier: Literal["base", "smoothed"] = Field(description="the classifier certified: the row's model or "
                                                                 "its Gaussian-smoothed version")
    threat: Threat
    accuracy: Accuracy = Field(description="certified accuracy (a lower bound of robust accuracy)")
    empirical: Optional[Accuracy] = Field(None, description="the lowest empirical robust accuracy of the same "
                                                            "classifier at the same threat; None when none was run")
    empirical_source: Optional[str] = Field(None, description="what gave the empirical value")
    violation: bool = Field(False, description="certified > empirical: a bug in the certifier or the attack")


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
    dataset_params: dict[str, Any] = Field(default_factory=dict)
    model_params: dict[str, Any] = Field(default_factory=dict)
    defense_params: dict[str, Any] = Field(default_factory=dict)
    clean: Optional[Accuracy] = None
    attacks: list[AttackResult] = Field(default_factory=list)
    worst_case: list[WorstCase] = Field(default_factory=list)
    probe_results: list[MetricResult] = Field(default_factory=list)
    task_results: list[MetricResult] = Field(default_factory=list)
    corruptions: list[CorruptionResult] = Field(default_factory=list)
    corruption_summary: Optional[CorruptionSummary] = None
    certified: list[CertifiedResult] = Field(default_factory=list)
    published: list[PublishedResult] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="attack-failure indicators that fired")
    errors: list[str] = Field(default_factory=list, description="cells of this row that failed, with the error")
    artifacts: dict[str, str] = Field(default_factory=dict, description="name -> content hash in the cache")
    provenance: Provenance

    # ------------------------------------------------------------------ selection by parameters
    def attack_results(self, attack_id: Optional[str] = None, norm: Optional[str] = None,
                       eps: Optional[float] = None, targeted: Optional[bool] = None,
                       transfer: Optional[bool] = None, **params: Any) -> list[AttackResult]:
        """Every attack entry with this id, threat and parameter values (None: any)."""
        out = []
        for a in self.attacks:
            if attack_id is not None and a.attack_id != attack_id:
                continue
            if not a.threat.matches(norm, eps, targeted):
                continue
            if transfer is not None and (a.substitute is not None) != transfer:
                continue
            if any(a.params.get(k) != v for k, v in params.items()):
                continue
            out.append(a)
        return out

    def attack(self, attack_id: Optional[str] = None, norm: Optional[str] = None, eps: Optional[float] = None,
               targeted: Optional[bool] = None, transfer: Optional[bool] = None, **params: Any) -> AttackResult:
        """The one attack entry matching; :class:`LookupError` naming the candidates otherwise."""
        found = self.attack_results(attack_id, norm, eps, targeted, transfer, **params)
        if len(found) != 1:
            raise LookupError(f"row {self.row_id!r}: {len(found)} attack results match attack_id={attack_id!r}, "
                              f"norm={norm!r}, eps={eps!r}, targeted={targeted!r}, params={params!r}")
        return found[0]

    def worst(self, norm: Optional[str] = None, eps: Optional[float] = None,
              targeted: Optional[bool] = False) -> WorstCase:
        """The worst case at one threat model."""
        found = [w for w in self.worst_case if w.threat.matches(norm, eps, targeted)]
        if len(found) != 1:
            raise LookupError(f"row {self.row_id!r}: {len(found)} worst cases match norm={norm!r}, eps={eps!r}, "
                              f"targeted={targeted!r}")
        return found[0]

    def corruption(self, corruption_id: str, severity: int) -> CorruptionResult:
        """The corruption cell of component ``corruption_id`` at ``severity``."""
        found = [c for c in self.corruptions if c.corruption_id == corruption_id and c.severity == severity]
        if len(found) != 1:
            raise LookupError(f"row {self.row_id!r}: {len(found)} corruption results match {corruption_id!r} "
                              f"severity {severity}")
        return found[0]

    def metric(self, source_id: str, column: str, epoch: Optional[int] = None) -> MetricResult:
        """The probe or task value ``column`` of component ``source_id``, on the final model or (``epoch``)
        on the weights after that many epochs of training."""
        found = [m for m in self.probe_results + self.task_results
                 if m.source_id == source_id and m.column == column and m.epoch == epoch]
        if len(found) != 1:
            raise LookupError(f"row {self.row_id!r}: {len(found)} metrics match {source_id!r} column {column!r}"
                              + (f" epoch {epoch}" if epoch is not None else ""))
        return found[0]

    def metric_curve(self, source_id: str, column: str) -> dict[int, Optional[float]]:
        """Probes over training: epoch -> value of ``column`` of component ``source_id`` (sorted by epoch)."""
        return {m.epoch: m.value for m in sorted(self.probe_results, key=lambda m: m.epoch or 0)
                if m.source_id == source_id and m.column == column and m.epoch is not None}

    # ------------------------------------------------------------------ label views (the rendering edge)
    @property
    def clean_accuracy(self) -> Optional[float]:
        return self.clean.value if self.clean is not None else None

    @property
    def robust(self) -> dict[str, Optional[float]]:
        """'<attack label> <threat label>' -> robust accuracy, for display."""
        from bench.rows.labels import attack_column

        return {attack_column(a): (a.accuracy.value if a.accuracy else None) for a in self.attacks}

    @property
    def ensemble(self) -> dict[str, Optional[float]]:
        """'<threat label>' -> worst-case accuracy, for display."""
        from bench.rows.labels import threat_label

        return {threat_label(w.threat): (w.accuracy.value if w.accuracy else None) for w in self.worst_case}

    @property
    def probes(self) -> dict[str, Optional[float]]:
        """'<probe label>.<column>' (at an epoch: '...@e<epoch>') -> value, for display."""
        from bench.rows.labels import metric_name

        return {metric_name(m): m.value for m in self.probe_results}

    @property
    def tasks(self) -> dict[str, Optional[float]]:
        """'<task label>.<column>' -> value, for display."""
        from bench.rows.labels import metric_name

        return {metric_name(m): m.value for m in self.task_results}

    def accuracies(self) -> dict[str, Optional[Accuracy]]:
        """Display column -> :class:`Accuracy` for clean, every attack, every worst case and every
        certified accuracy with its empirical partner (``certified[<label> <threat>]``,
        ``empirical[<label> <threat>]``), and every corruption cell (``corruption[<label> s<k>]``)."""
        from bench.rows.labels import attack_column, certified_column, corruption_column, threat_label

        out: dict[str, Optional[Accuracy]] = {"clean": self.clean}
        out.update({f"robust[{attack_column(a)}]": a.accuracy for a in self.attacks})
        out.update({f"ensemble[{threat_label(w.threat)}]": w.accuracy for w in self.worst_case})
        for c in self.certified:
            out[f"certified[{certified_column(c)}]"] = c.accuracy
            out[f"empirical[{certified_column(c)}]"] = c.empirical
        out.update({f"corruption[{corruption_column(r)}]": r.accuracy for r in self.corruptions})
        return out

    def mean_accuracies(self) -> dict[str, Optional[MeanAccuracy]]:
        """Display column -> :class:`MeanAccuracy` (``corruption[mean]``): shown with its interval like an
        accuracy, but not a count of examples (not in :meth:`accuracies`)."""
        if self.corruption_summary is None:
            return {}
        return {"corruption[mean]": self.corruption_summary.mean}

    def metric_columns(self) -> dict[str, Optional[float]]:
        """All metrics flattened to display column -> value (in display order)."""
        out: dict[str, Optional[float]] = {k: (v.value if v is not None else None) for k, v in self.accuracies().items()}
        from bench.rows.labels import corruption_column

        cells = {name: out.pop(name) for name in dict.fromkeys(f"corruption[{corruption_column(r)}]"
                                                               for r in self.corruptions)}
        summary = self.corruption_summary
        if summary is not None:  # the headline first, then each corruption and severity
            out["corruption[mean]"] = summary.mean.value if summary.mean is not None else None
            if summary.baseline is not None:
                out["corruption[mCE]"] = summary.mce
                out["corruption[relative mCE]"] = summary.relative_mce
        out.update(cells)
        out.update({f"probe[{k}]": v for k, v in self.probes.items()})
        out.update({f"task[{k}]": v for k, v in self.tasks.items()})
        from bench.rows.labels import published_column

        out.update({published_column(p): p.value for p in self.published})  # placed beside their partners by the frame
        return out
