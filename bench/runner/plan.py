"""Expand a suite into frozen cells; drop incompatible combinations with a stated reason.

Stages: train (dataset x model x defense x seed, or a ``[[pretrained]]`` entry) ->
attack (trained model x attack x threat) -> probe (trained model x probe) -> task, and
corruption (trained model x corruption x severity; ``corruption_baseline`` resolved to one row
per dataset and seed here, so an unmatched baseline fails before anything runs).
Probes registered with ``always = True`` (attack-failure indicators) join every row's
probes unless the suite lists them itself or sets ``integrity = false``. A probe with ``epochs``
(probes over training) adds one cell per (row, probe, epoch) on the weights after that epoch;
every trained row then keeps the union of the suite's epochs (``TrainCell.keep_epochs``, part of
its training key only when non-empty). Epochs beyond a row's training, ``[[pretrained]]`` rows and
probes that read attacks are refused here.
Component parameters are validated against each implementation's ``Config`` here, so a
typo fails before anything is computed, and so is every iterative attack's reach of the eps
boundary (:mod:`bench.runner.reach_check`: unreachable configurations are refused, marginal
ones recorded in ``Plan.notes``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

from pydantic import ValidationError

from bench.config import TrainConfig
from bench.errors import ConfigError, UsageError
from bench.registry import Entry, Registry
from bench.runner.suite import CorruptionRef, PretrainedRef, Ref, Suite
from bench.threat import ThreatModel


@dataclass(frozen=True)
class Component:
    """A resolved suite reference: registry entry, validated parameters, display label."""

    entry: Entry
    params: tuple[tuple[str, Any], ...]
    label: str

    @property
    def qid(self) -> str:
        return self.entry.qualified_id

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    def describe(self) -> dict[str, Any]:
        """What the component's results depend on: id, spec version, parameters, distribution and the
        fingerprint of its code (:mod:`bench.runner.fingerprint`), so an edited plugin recomputes."""
        from bench.runner.fingerprint import code_fingerprint

        return {"id": self.qid, "version": self.entry.version, "params": self.kwargs,
                "dist": self.entry.plugin.distribution, "dist_version": self.entry.plugin.version,
                "code": code_fingerprint(self.entry.spec.target)}


@dataclass(frozen=True)
class TrainCell:
    dataset: Component
    model: Optional[Component]
    defense: Optional[Component]
    seed: int
    train: Optional[TrainConfig]
    pretrained: Optional[PretrainedRef] = None
    checkpoint_sha256: Optional[str] = None  # a pretrained checkpoint's digest, resolved once at plan time
    published: tuple = ()  # a pretrained model's published values (bench.published.PublishedValue), a label
    keep_epochs: tuple[int, ...] = ()  # epochs whose weights training keeps (probes over training); in the key

    @property
    def row_id(self) -> str:
        if self.pretrained is not None:
            return f"{self.dataset.label}/{self.pretrained.label}/pretrained/seed{self.seed}"
        return f"{self.dataset.label}/{self.model.label}/{self.defense.label}/seed{self.seed}"  # type: ignore[union-attr]


@dataclass(frozen=True)
class CleanCell:
    """Clean accuracy of a trained model on the evaluation subset (one per trained model)."""

    train: TrainCell

    @property
    def cell_id(self) -> str:
        return f"{self.train.row_id} :: clean"


@dataclass(frozen=True)
class AttackCell:
    train: TrainCell
    attack: Component
    threat: ThreatModel
    substitute: Optional[TrainCell] = None
    reuse_from: Optional["AttackCell"] = None  # the same attack at the next smaller eps (eval.reuse_smaller_eps)

    @property
    def column(self) -> str:
        return f"{self.attack.label} {self.threat.label}"

    @property
    def cell_id(self) -> str:
        return f"{self.train.row_id} :: {self.column}"


@dataclass(frozen=True)
class ProbeCell:
    """A probe on a trained model: the final one, or (``epoch``) the weights after ``epoch`` epochs."""

    train: TrainCell
    probe: Component
    attacks: tuple[AttackCell, ...] = ()
    epoch: Optional[int] = None

    @property
    def cell_id(self) -> str:
        at = f" @e{self.epoch}" if self.epoch is not None else ""
        return f"{self.train.row_id} :: probe {self.probe.label}{at}"


@dataclass(frozen=True)
class TaskCell:
    train: TrainCell
    task: Component

    @property
    def cell_id(self) -> str:
        return f"{self.train.row_id} :: task {self.task.label}"


@dataclass(frozen=True)
class CorruptionCell:
    """Accuracy of a trained model on its evaluation subset under one corruption at one severity.

    ``baseline``: the row id of the suite's ``corruption_baseline`` row of the same dataset and seed
    (a label: not part of the key), whose cells the (relative) mCE divides by."""

    train: TrainCell
    corruption: Component
    severity: int
    baseline: Optional[str] = None

    @property
    def column(self) -> str:
        return f"{self.corruption.label} s{self.severity}"

    @property
    def cell_id(self) -> str:
        return f"{self.train.row_id} :: corruption {self.column}"


@dataclass
class Plan:
    suite: Suite
    train_cells: list[TrainCell] = field(default_factory=list)
    attack_cells: list[AttackCell] = field(default_factory=list)
    probe_cells: list[ProbeCell] = field(default_factory=list)
    task_cells: list[TaskCell] = field(default_factory=list)
    corruption_cells: list[CorruptionCell] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    #: (what, why) warnings about cells that run anyway, e.g. attacks that only marginally reach the eps
    #: boundary (bench.runner.reach_check); printed by ``robarena run``
    notes: list[tuple[str, str]] = field(default_factory=list)

    def for_train(self, cell: TrainCell) -> tuple[list[AttackCell], list[ProbeCell], list[TaskCell]]:
        return ([a for a in self.attack_cells if a.train == cell], [p for p in self.probe_cells if p.train == cell],
                [t for t in self.task_cells if t.train == cell])

    def corruptions_for(self, cell: TrainCell) -> list[CorruptionCell]:
        """The corruption cells of one trained model (executors run them after its tasks)."""
        return [c for c in self.corruption_cells if c.train == cell]

    @property
    def n_cells(self) -> int:
        return (2 * len(self.train_cells) + len(self.attack_cells) + len(self.probe_cells) + len(self.task_cells)
                + len(self.corruption_cells))


def validate_params(entry: Entry, params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    impl = entry.load()
    config_cls = getattr(impl, "Config", None)
    if config_cls is None:
        if params:
            raise ConfigError(f"{entry.kind} {entry.qualified_id!r} takes no parameters, got {sorted(params)}")
        return ()
    try:
        config = config_cls(**params)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(params)"
            msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{loc}: {msg}")
        allowed = ", ".join(sorted(config_cls.model_fields)) or "(none)"
        raise ConfigError(
            f"invalid parameters for {entry.kind} {entry.qualified_id!r}: {'; '.join(problems)}. "
            f"Allowed parameters: {allowed}"
        ) from None
    return tuple(sorted(config.model_dump(mode="json").items()))


def _resolve(registry: Registry, kind: str, ref: Ref) -> Component:
    entry = registry.get(kind, ref.id)
    return Component(entry, validate_params(entry, ref.params), ref.label or entry.spec.name)


def _unique_labels(components: list[Component], kind: str) -> None:
    seen: dict[str, Component] = {}
    for comp in components:
        if comp.label in seen and seen[comp.label] != comp:
            raise UsageError(f"two {kind} entries share the label {comp.label!r}; give each a distinct label = '...'")
        seen[comp.label] = comp


def dataset_shape(comp: Component) -> Optional[tuple[int, int, int]]:
    """The (C, H, W) a dataset entry yields with its parameters (resize, crop, channels), if known."""
    impl = comp.entry.load()
    if hasattr(impl, "output_shape"):
        return impl.output_shape(impl.Config(**comp.kwargs))
    return tuple(comp.entry.spec.shape)  # type: ignore[return-value]


def _model_fits(model: Entry, shape: Optional[tuple[int, ...]]) -> Optional[str]:
    if shape is None:  # known only once the files are read: the model reports a mismatch itself
        return None
    spec = model.spec
    c, h, w = shape
    if spec.channels is not None and c not in spec.channels:
        return f"model accepts {spec.channels} input channels, dataset has {c}"
    if min(h, w) < spec.min_size:
        return f"model needs inputs of at least {spec.min_size}x{spec.min_size}, dataset is {h}x{w}"
    if spec.max_size is not None and max(h, w) > spec.max_size:
        return f"model accepts inputs up to {spec.max_size}x{spec.max_size}, dataset is {h}x{w}"
    return None


def _attack_fits(attack: Entry, threat: ThreatModel) -> Optional[str]:
    spec = attack.spec
    if threat.norm not in spec.norms:
        return f"attack supports {spec.norms}, not {threat.norm}"
    if threat.targeted and not spec.targeted:
        return "attack has no targeted mode"
    if not threat.targeted and not spec.untargeted:
        return "attack is targeted only"
    return None


def build_plan(suite: Suite, registry: Registry) -> Plan:
    plan = Plan(suite)
    digests: dict[str, str] = {}  # checkpoint path -> sha256: each file is read once per plan
    published: dict[str, tuple] = {}  # pretrained label -> its published values, read once per plan
    datasets = [_resolve(registry, "dataset", r) for r in suite.datasets]
    models = [(_resolve(registry, "model", r), r) for r in suite.models]
    defenses = [(_resolve(registry, "defense", r), r) for r in suite.defenses]
    attacks = [(_resolve(registry, "attack", r), r.threats(), r.substitute) for r in suite.attacks]
    probes = [_resolve(registry, "probe", r) for r in suite.probes]
    probe_epochs = {p.label: tuple(r.epochs or ()) for p, r in zip(probes, suite.probes)}  # labels: unique (checked below)
    probes += _always_probes(registry, suite, probes, plan)
    tasks = [_resolve(registry, "task", r) for r in suite.tasks]
    corruptions = [c for r in suite.corruptions for c in _resolve_corruptions(registry, r)]
    for group, kind in ((datasets, "dataset"), ([m for m, _ in models], "model"), ([d for d, _ in defenses], "defense"),
                        ([a[0] for a in attacks], "attack"), (probes, "probe"), (tasks, "task"),
                        ([c for c, _ in corruptions], "corruption")):
        _unique_labels(group, kind)
    keep_epochs = _epochs_wanted(probes, probe_epochs)

    for seed in suite.seeds:
        for ds in datasets:
            for model, model_ref in models:
                reason = _model_fits(model.entry, dataset_shape(ds))
                if reason:
                    plan.dropped.append((f"{ds.label} x {model.label}", reason))
                    continue
                for defense, ref in defenses:
                    try:  # the suite's [train] < the model's overrides < the defense's
                        train = TrainConfig(**{**suite.train.model_dump(), **model_ref.train, **ref.train})
                    except ValidationError as exc:
                        where = f"model {model.label!r} x defense {defense.label!r}"
                        raise _train_overrides_error(where, exc) from None
                    _check_epochs(keep_epochs, train, f"{ds.label}/{model.label}/{defense.label}")
                    plan.train_cells.append(TrainCell(ds, model, defense, seed, train, keep_epochs=keep_epochs))
        for pre in suite.pretrained:
            if keep_epochs:
                asked = sorted(label for label, e in probe_epochs.items() if e)
                raise UsageError(f"probe(s) {asked} ask for epochs, but [[pretrained]] {pre.label!r} was not "
                                 "trained by this suite (no epoch checkpoints); run the probes over training in a "
                                 "suite without [[pretrained]] entries, or drop their epochs")
            ds = _resolve(registry, "dataset", Ref(id=pre.dataset, params=pre.dataset_params))
            if pre.checkpoint not in digests:  # once per file, whatever the number of seeds
                digests[pre.checkpoint] = checkpoint_digest(pre)
            digest = digests[pre.checkpoint]
            if pre.label not in published:  # the model-info file is read once too
                published[pre.label] = pretrained_published(registry, pre)
            plan.train_cells.append(TrainCell(ds, None, None, seed, None, pre, digest, published[pre.label]))

    row_ids = [c.row_id for c in plan.train_cells]
    if len(set(row_ids)) != len(row_ids):
        dup = sorted({r for r in row_ids if row_ids.count(r) > 1})
        raise UsageError(f"duplicate leaderboard rows {dup}: give the entries distinct labels")
    columns = [f"{c.label} s{k}" for c, severities in corruptions for k in severities]
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise UsageError(f"corruption columns {dup} appear twice; list each corruption and severity once")
    baselines = _corruption_baselines(suite, plan.train_cells) if corruptions else {}

    for cell in plan.train_cells:
        own_attacks = []
        for attack, threats, sub in attacks:
            substitute = _substitute_cell(registry, suite, cell, sub) if sub is not None else None
            for threat in threats:
                reason = _attack_fits(attack.entry, threat)
                if reason:
                    plan.dropped.append((f"{cell.row_id} x {attack.label} {threat.label}", reason))
                    continue
                own_attacks.append(AttackCell(cell, attack, threat, substitute))
        columns = [a.column for a in own_attacks]
        if len(set(columns)) != len(columns):
            dup = sorted({c for c in columns if columns.count(c) > 1})
            raise UsageError(f"attack columns {dup} appear twice; give the attack entries distinct labels")
        if suite.eval.reuse_smaller_eps:
            own_attacks = chain_eps_sweeps(own_attacks)
        plan.attack_cells.extend(own_attacks)
        for probe in probes:
            needs = probe.entry.spec.needs_attacks
            plan.probe_cells.append(ProbeCell(cell, probe, tuple(own_attacks) if needs else ()))
            plan.probe_cells.extend(ProbeCell(cell, probe, (), epoch) for epoch in probe_epochs.get(probe.label, ()))
        plan.task_cells.extend(TaskCell(cell, task) for task in tasks)
        baseline = baselines.get((cell.dataset.label, cell.seed))
        plan.corruption_cells.extend(CorruptionCell(cell, corr, severity, baseline)
                                     for corr, severities in corruptions for severity in severities)
    from bench.runner.reach_check import check_reach_of_plan

    check_reach_of_plan(plan)  # steps x step size must reach eps: unreachable refused, marginal noted
    return plan


def _epochs_wanted(probes: list[Component], probe_epochs: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """The union of the probes' ``epochs`` (sorted); a probe that reads attacks cannot have any."""
    for probe in probes:
        if probe_epochs.get(probe.label) and probe.entry.spec.needs_attacks:
            raise UsageError(f"probe {probe.label!r} ({probe.qid}) reads the row's attacks (needs_attacks), which run "
                             "on the final model only; probes over training cannot give it attacks at epoch "
                             f"{probe_epochs[probe.label][0]}: drop its epochs")
    return tuple(sorted({e for epochs in probe_epochs.values() for e in epochs}))


def _check_epochs(epochs: tuple[int, ...], train: TrainConfig, row: str) -> None:
    """Every requested epoch exists in the row's training (``train.epochs`` after its overrides)."""
    beyond = [e for e in epochs if e > train.epochs]
    if beyond:
        raise UsageError(f"probes over training ask for epoch(s) {beyond}, but {row} trains for {train.epochs} "
                         f"epochs; ask for epochs 1..{train.epochs}")


def _resolve_corruptions(registry: Registry, ref: CorruptionRef) -> list[tuple[Component, list[int]]]:
    """A ``[[corruptions]]`` entry as (component, severities); ``<plugin>/*``: every corruption of that plugin,
    by family (noise, blur, weather, digital) then id."""
    severities = ref.severities()
    if not ref.id.endswith("/*"):
        return [(_resolve(registry, "corruption", ref), severities)]
    plugin = ref.id[:-2]
    order = ("noise", "blur", "weather", "digital")
    found = sorted((e for e in registry.entries("corruption") if e.plugin.name == plugin),
                   key=lambda e: (order.index(e.spec.family) if e.spec.family in order else len(order),
                                  e.qualified_id))
    if not found:
        plugins = sorted({e.plugin.name for e in registry.entries("corruption")}) or ["(none installed)"]
        raise UsageError(f"corruption {ref.id!r}: plugin {plugin!r} registers no corruption; plugins with "
                         f"corruptions: {', '.join(plugins)} (write e.g. id = 'corruptions/*')")
    return [(Component(e, validate_params(e, ref.params), e.spec.name), severities) for e in found]


def _row_name(cell: TrainCell) -> str:
    """What ``corruption_baseline`` matches: '<model label>/<defense label>', or a pretrained entry's label."""
    if cell.pretrained is not None:
        return cell.pretrained.label
    return f"{cell.model.label}/{cell.defense.label}"  # type: ignore[union-attr]


def _corruption_baselines(suite: Suite, cells: list[TrainCell]) -> dict[tuple[str, int], str]:
    """(dataset label, seed) -> the baseline row id; an unmatched ``corruption_baseline`` is a UsageError."""
    wanted = suite.corruption_baseline
    if wanted is None:
        return {}
    out: dict[tuple[str, int], str] = {}
    for cell in cells:
        if _row_name(cell) == wanted:
            out[(cell.dataset.label, cell.seed)] = cell.row_id
    missing = sorted({(c.dataset.label, c.seed) for c in cells} - set(out))
    if missing:
        names = ", ".join(sorted({repr(_row_name(c)) for c in cells}))
        where = ", ".join(f"{d} seed {s}" for d, s in missing)
        raise UsageError(f"corruption_baseline = {wanted!r} matches no row of {where}; name a row as "
                         f"'<model label>/<defense label>' or a pretrained label, one of: {names}")
    return out


def pretrained_published(registry: Registry, pre: PretrainedRef) -> tuple:
    """The published values of a brought model: its registered architecture's spec (e.g. a RobustBench
    zoo entry), then its ``model_info`` file, then its inline ``published`` (a later one of the same
    metric and threat replaces an earlier one). Errors in the file name the file and the field."""
    from bench.errors import UnknownComponentError
    from bench.published import load_model_info, merge_published

    from_spec: tuple = ()
    if not pre.arch.startswith("timm/") and ":" not in pre.arch:
        try:
            from_spec = tuple(getattr(registry.get("model", pre.arch).spec, "published", ()) or ())
        except UnknownComponentError:  # reported where the architecture is built, as before
            pass
    try:
        from_file = load_model_info(pre.model_info) if pre.model_info else ()
    except ConfigError as exc:
        raise ConfigError(f"[[pretrained]] {pre.label!r}: {exc}") from None
    return merge_published(from_spec, from_file, pre.published)


def checkpoint_digest(pre: PretrainedRef) -> str:
    """sha256 of a brought checkpoint (part of its training cell's key); a clear error if unreadable."""
    from pathlib import Path

    from bench.runner.keys import file_sha256

    path = Path(pre.checkpoint).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise UsageError(f"checkpoint {pre.checkpoint!r} of {pre.label!r} {what}; give the path of a .safetensors "
                         "or weights-only .pt/.pth file")
    try:
        return file_sha256(str(path))
    except OSError as exc:
        raise UsageError(f"cannot read checkpoint {pre.checkpoint!r} of {pre.label!r}: {exc.strerror}") from None


def chain_eps_sweeps(cells: list[AttackCell]) -> list[AttackCell]:
    """Link each attack cell to the same attack at the next smaller eps (``reuse_from``).

    "The same attack": same component (labels are unique per entry), substitute, norm (not
    ``unbounded``), targeted and box. The cells keep their order (the leaderboard's columns).
    """
    def sweep(c: AttackCell) -> tuple:
        return (c.attack.label, c.substitute, c.threat.norm, c.threat.targeted, c.threat.bounds)

    linked: dict[int, AttackCell] = {}
    by_sweep: dict[tuple, list[int]] = {}
    for i, c in enumerate(cells):
        if c.threat.norm != "unbounded":
            by_sweep.setdefault(sweep(c), []).append(i)
    for group in by_sweep.values():
        prev: Optional[AttackCell] = None
        for i in sorted(group, key=lambda i: cells[i].threat.eps):
            c = cells[i]
            linked[i] = replace(c, reuse_from=prev) if prev is not None and prev.threat.eps < c.threat.eps else c
            prev = linked[i]
    return [linked.get(i, c) for i, c in enumerate(cells)]


def _always_probes(registry: Registry, suite: Suite, listed: list[Component], plan: Plan) -> list[Component]:
    """Registered ``always`` probes the suite does not list itself, with default parameters.

    With ``integrity = false`` none is added and each is recorded once in ``plan.dropped``.
    """
    have = {c.qid for c in listed}
    extra = [Component(e, validate_params(e, {}), e.spec.name) for e in registry.entries("probe")
             if e.spec.always and e.qualified_id not in have]
    if suite.integrity:
        return extra
    for comp in extra:
        plan.dropped.append((f"probe {comp.label} (every row)", "the suite sets integrity = false"))
    return []


def _train_overrides_error(where: str, exc: ValidationError) -> ConfigError:
    """One ``key: reason`` per problem of a ``train = {...}`` override (not pydantic's own dump)."""
    problems = [f"{'.'.join(str(p) for p in err['loc']) or '(train)'}: "
                f"{'unknown key' if err['type'] == 'extra_forbidden' else err['msg']}" for err in exc.errors()]
    return ConfigError(f"{where}: invalid train overrides: {'; '.join(problems)}. Allowed keys: "
                       f"{', '.join(sorted(TrainConfig.model_fields))}")


def _substitute_cell(registry: Registry, suite: Suite, cell: TrainCell, sub: Any) -> TrainCell:
    """The training cell of a transfer attack's substitute: same dataset and seed as the row."""
    model = _resolve(registry, "model", Ref(id=sub.model, params=sub.model_params))
    defense = _resolve(registry, "defense", Ref(id=sub.defense, params=sub.defense_params))
    reason = _model_fits(model.entry, dataset_shape(cell.dataset))
    if reason:
        raise UsageError(f"substitute model {model.qid!r} cannot take dataset {cell.dataset.qid!r}: {reason}")
    try:
        train = TrainConfig(**{**suite.train.model_dump(), **sub.train})
    except ValidationError as exc:
        raise _train_overrides_error(f"substitute {model.qid!r}", exc) from None
    return TrainCell(cell.dataset, model, defense, cell.seed, train)
