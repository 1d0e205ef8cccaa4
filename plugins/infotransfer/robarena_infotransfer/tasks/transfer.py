"""Linear-probe transfer (P2 "Transferability-accuracy Trade-Off", Tables 1-3, Fig. 3 and 7, Lemma 0.8).

P2 freezes a source model's feature extractor ``z = f_w(x)``, fits only a new linear classifier
``A_2 z + b_2`` on each target dataset, and reports target test accuracy; it orders the targets
by the Earth Mover's Distance between feature distributions (after Cui et al. 2018) and finds
that the robust-minus-standard accuracy gap grows with that distance. Lemma 0.8
(``tr F_{y|x} <= tr F_{z|x}``) says the new model inherits the extractor's robustness.

For each target (``targets``, in order) this task:

1. loads it with the runner's ``load_dataset(id, params)`` and checks that its images have the
   source's input shape (otherwise an error naming the dataset parameters that resize it, or
   ``match_shape = true`` to resize here: bilinear, antialiased, grey <-> RGB by replication or
   ITU-R 601 luma);
2. extracts features of its train and test splits once (eval mode, no gradients; kept in memory
   for the steps below);
3. fits the head (:func:`robarena_infotransfer.tasks.transfer_head.fit_linear_head`:
   multinomial logistic regression, L-BFGS, L2 with ``C`` on standardised features); with
   ``head = "finetune-last"`` or ``"finetune-all"`` it then fine-tunes that head with the source's
   last block or its whole extractor (a copy) by SGD on the target's training split
   (:mod:`robarena_infotransfer.tasks.transfer_finetune`; ``finetune_epochs``, ``finetune_lr``,
   ``finetune_momentum``, ``finetune_batch_size``); P2 fine-tunes, the default stays the linear probe;
4. ``<label>.accuracy``: the transferred model's accuracy on the target's test split (its first ``n_test``);
5. ``<label>.distance``: the exact EMD (Euclidean ground cost,
   :func:`~robarena_infotransfer.tasks.transfer_emd.emd`) between ``distance_n`` source-test and
   ``distance_n`` target-test feature vectors drawn without replacement, in the features of *this*
   row's model (the source model, the way Cui et al. embed both datasets with one network);
   ``<label>.class_emd``: the distance of P2's reference method (Cui et al. 2018,
   :func:`~robarena_infotransfer.tasks.transfer_emd.class_mean_emd`): the EMD between the class-mean
   feature vectors of the source's and the target's test splits, each class weighted by its share
   of the images, Euclidean ground distance in the same (unfine-tuned) features;
6. ``<label>.robust_accuracy``: PGD (the registered ``classics/pgd``, built through
   :meth:`~bench.api.TaskInput.component` and declared in :meth:`Transfer.dependencies`, so its
   version is in the cell's key and provenance; ``attack_steps`` steps of ``step_size``, default
   2.5 eps / steps, random start) on the input of the transferred model
   ``head(features(x))`` (extractor frozen) at ``norm``/``eps``, on the first ``robust_n`` target
   test images; the fraction classified correctly both clean and attacked, by this task's own
   forward pass (the runner's definition of robust accuracy).

Metric names are ``<label>.accuracy``, ``<label>.distance``, ``<label>.robust_accuracy``,
``<label>.class_emd``, four per target; ``label`` defaults to the dataset's name (``core/digits32`` -> ``digits32``)
and must be unique. The task declares exactly these columns for its configured targets
(:meth:`Transfer.columns`; the spec lists those of the default targets). The default targets
suit a ``core/gratings32`` source: ``near`` (``core/gratings32-shifted``, shift 0.25) and ``far``
(``core/digits32``). The robust-minus-standard gap is a difference *between* rows and belongs to
the suite's claims.

Defaults not given by P2 (its appendix with the fine-tuning protocol is not in our copy): C = 1,
1,000 L-BFGS iterations, 500 points per EMD sample, the attack at P2's CIFAR training radius (L2,
eps 1) with 20 steps on 200 images.
"""
from __future__ import annotations

from typing import Any, Callable, Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from torch import nn

from bench.api import BaseConfig, Cost, DatasetSplits, Task, TaskDependency, TaskInput, TaskResult
from bench.eps import Eps
from bench.errors import UsageError
from bench.steps import Steps
from bench.threat import ThreatConfig
from robarena_infotransfer.probes.features import batched_features, feature_map
from robarena_infotransfer.tasks.transfer_emd import class_mean_emd, sample_emd
from robarena_infotransfer.tasks.transfer_finetune import HeadMode, copy_source, finetune
from robarena_infotransfer.tasks.transfer_head import fit_linear_head

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights for RGB -> grey
#: The registered attack that measures the transferred models' robust accuracy.
ATTACK = "classics/pgd"


class TargetRef(BaseConfig):
    """A target dataset: registered ``id``, its ``params``, and the ``label`` used in metric names."""

    id: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: Optional[str] = None

    @field_validator("label")
    @classmethod
    def _check_label(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and (not v or "/" in v or any(c.isspace() for c in v) or "[" in v or "]" in v):
            raise ValueError(f"target label {v!r} must be non-empty without '/', '[', ']' or spaces")
        return v

    @property
    def name(self) -> str:
        return self.label or self.id.rsplit("/", 1)[-1]


#: Per-target metrics, in column order: ``<label>.accuracy``, ``.distance``, ``.robust_accuracy``, ``.class_emd``.
TARGET_METRICS = ("accuracy", "distance", "robust_accuracy", "class_emd")


def target_columns(targets: list[TargetRef]) -> list[str]:
    """The task's columns for ``targets``: ``<label>.<metric>`` for each of :data:`TARGET_METRICS`, per target."""
    return [f"{t.name}.{m}" for t in targets for m in TARGET_METRICS]


def default_targets() -> list[TargetRef]:
    """Near and far embedded targets for a ``core/gratings32`` source (see docs/datasets.md)."""
    return [TargetRef(id="core/gratings32-shifted", params={"shift": 0.25}, label="near"),
            TargetRef(id="core/digits32", label="far")]


class TransferConfig(ThreatConfig):
    targets: list[TargetRef] = Field(default_factory=default_targets, min_length=1,
                                     description="target datasets, each {id, params, label}")
    match_shape: bool = Field(False, description="resize / convert targets whose shape differs from the source's")
    n_train: Optional[int] = Field(None, ge=1, description="first n target training images for the head (None = all)")
    n_test: Optional[int] = Field(None, ge=1, description="first n target test images (None = all)")
    c: float = Field(1.0, gt=0, description="inverse L2 strength of the logistic-regression head (sklearn's C)")
    max_iter: int = Field(1000, ge=1, description="L-BFGS iterations of the head fit")
    distance_n: int = Field(500, ge=1, description="points per sample of the EMD")
    norm: Literal["L2", "Linf"] = Field("L2", description="threat model of the transferred model's attack (P2: L2)")
    eps: Eps = Field(Eps(1.0), description="attack radius (P2's CIFAR training radius, L2 1.0); '8/255' accepted")
    attack_steps: Steps = Field(20, description="PGD steps")
    step_size: Optional[float] = Field(None, gt=0, description="PGD step; None = 2.5 * eps / steps")
    robust_n: int = Field(200, ge=1, description="first n target test images attacked")
    batch_size: int = Field(256, ge=1, description="images per feature / attack batch")
    head: HeadMode = Field("linear", description="'linear' (frozen features), 'finetune-last' (head and last block) "
                                                 "or 'finetune-all' (head and whole extractor)")
    finetune_epochs: int = Field(1, ge=1, description="fine-tuning passes over the target's training split")
    finetune_lr: float = Field(0.01, gt=0, description="fine-tuning SGD learning rate")
    finetune_momentum: float = Field(0.9, ge=0, lt=1, description="fine-tuning SGD momentum")
    finetune_batch_size: int = Field(128, ge=1, description="fine-tuning batch size")

    @model_validator(mode="after")
    def _unique_labels(self) -> "TransferConfig":
        names = [t.name for t in self.targets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"targets share the label(s) {dup}; give each target a distinct label = '...'")
        return self


class TransferredModel(nn.Module):
    """``head(source.features(x))``: the frozen source extractor with a new linear head; [0, 1] images -> logits."""

    def __init__(self, source: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.source = source
        self.head = head
        self._features = feature_map(source)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self._features(x))


def reshape_images(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Resize (bilinear, antialiased) and convert channels (grey -> RGB by replication, RGB -> grey by luma)."""
    c, h, w = shape
    if tuple(x.shape[2:]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False).clamp(0.0, 1.0)
    if x.shape[1] != c:
        if x.shape[1] == 1:
            x = x.expand(-1, c, -1, -1)
        elif x.shape[1] == 3 and c == 1:
            x = (x * torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
        else:
            raise UsageError(f"cannot convert {x.shape[1]} channels to {c}")
    return x.contiguous()


class Transfer(Task):
    """Linear-probe transfer of the frozen features to each target: accuracy, EMD distance, robust accuracy.

    Args (``TransferConfig``): targets=[near: core/gratings32-shifted (shift 0.25), far: core/digits32],
    match_shape=False, n_train=None, n_test=None, c=1.0, max_iter=1000, distance_n=500, norm="L2",
    eps=1.0, attack_steps=20, step_size=None (2.5 eps / steps), robust_n=200, batch_size=256,
    head="linear" ("finetune-last", "finetune-all"), finetune_epochs=1, finetune_lr=0.01,
    finetune_momentum=0.9, finetune_batch_size=128 (fine-tuning budget: our choice, P2 gives none).
    Shapes: source and target images (N, C, H, W) of one shape; features (N, D).
    """

    Config = TransferConfig

    def columns(self) -> list[str]:
        """The configured targets' columns (the spec declares the default targets' ``near.*``, ``far.*``)."""
        return target_columns(self.config.targets)

    @classmethod
    def smoke_config(cls) -> TransferConfig:
        """For ``robarena mock-run``: the default targets resized to the source's shape (8x8 grey
        digits there), 200 / 100 target images, EMD on 50 points, 2 PGD steps on 20 images."""
        return TransferConfig(match_shape=True, n_train=200, n_test=100, max_iter=200, distance_n=50,
                              attack_steps=2, robust_n=20)

    def cost(self, n: int, n_train: int, target_sizes: Optional[list[tuple[int, int]]] = None,
             dataset_sizes: Optional[Callable[[str, dict], Optional[tuple[int, int]]]] = None) -> Optional[Cost]:
        """The whole cell: the source's test-split features (1 forward each; counted as ``n``, the whole split
        when the suite evaluates all of it); per target, with ``a`` training and ``b`` test images used, their
        features (``a + b`` forwards), with a fine-tuned head ``finetune_epochs x a`` forward + backward
        passes (a full backward counted for ``finetune-last`` too) and ``b`` test forwards, and on the first
        ``robust_n`` test images the PGD of :data:`ATTACK` (``attack_steps`` forward + backward passes and
        1 scoring forward each, an upper bound: it stops early) and the task's 2 scoring forwards.
        ``a``, ``b``: the config's ``n_train``, ``n_test`` (upper bounds), else the targets' split sizes
        ``target_sizes`` ((train, test) per target, in order), else as ``dataset_sizes(id, params)`` reports
        them (the dry run passes it: sizes of the loaded or declared datasets); None when nothing tells them."""
        cfg = self.config
        if target_sizes is None and dataset_sizes is not None:
            found = [dataset_sizes(ref.id, dict(ref.params)) for ref in cfg.targets]
            target_sizes = None if any(s is None for s in found) else found  # type: ignore[assignment]
        if target_sizes is None:
            if cfg.n_train is None or cfg.n_test is None:
                return None
            target_sizes = [(cfg.n_train, cfg.n_test)] * len(cfg.targets)
        if len(target_sizes) != len(cfg.targets):
            raise UsageError(f"transfer cost: {len(target_sizes)} target sizes for {len(cfg.targets)} targets")
        attacked = Cost(cfg.attack_steps + 1.0, float(cfg.attack_steps)) + Cost(2.0, 0.0)
        cost = Cost(float(n), 0.0)
        for size_train, size_test in target_sizes:
            a = min(size_train, cfg.n_train or size_train)
            b = min(size_test, cfg.n_test or size_test)
            cost = cost + Cost(float(a + b), 0.0) + attacked * min(cfg.robust_n, b)
            if cfg.head != "linear":
                cost = cost + Cost.steps(cfg.finetune_epochs * a) + Cost(float(b), 0.0)
        return cost

    def attack_params(self) -> dict[str, Any]:
        """Parameters of the :data:`ATTACK` that measures robust accuracy (one run, random start, CE)."""
        cfg = self.config
        return {"steps": cfg.attack_steps, "step_size": cfg.step_size, "random_start": True, "restarts": 1,
                "loss": "ce"}

    def dependencies(self) -> list[TaskDependency]:
        """The attack (:data:`ATTACK` with :meth:`attack_params`): in the cell's key and meta."""
        return [TaskDependency("attack", components={"attack": ("attack", ATTACK)},
                               settings={"params": self.attack_params()})]

    def run(self, model: nn.Module, inputs: TaskInput, generator: torch.Generator) -> TaskResult:
        cfg = self.config
        if inputs.load_dataset is None:
            raise UsageError("the transfer task needs TaskInput.load_dataset to load its target datasets")
        source = inputs.data
        source_z = batched_features(model, source.x_test, inputs.device, cfg.batch_size)
        attack = inputs.component("attack", ATTACK, self.attack_params())
        metrics: dict[str, float] = {}
        for index, ref in enumerate(cfg.targets):
            target = self.load_target(ref, inputs, source.shape)
            x_train, y_train = target.x_train[:cfg.n_train], target.y_train[:cfg.n_train]
            x_test, y_test = target.x_test[:cfg.n_test], target.y_test[:cfg.n_test]
            z_train = batched_features(model, x_train, inputs.device, cfg.batch_size)
            z_test = batched_features(model, x_test, inputs.device, cfg.batch_size)
            head = fit_linear_head(z_train, y_train, target.num_classes, c=cfg.c, max_iter=cfg.max_iter)
            metrics[f"{ref.name}.distance"] = sample_emd(source_z, z_test, cfg.distance_n, generator)[0]
            if cfg.head == "linear":
                with torch.no_grad():
                    pred = head(z_test).argmax(dim=1)
                transferred = TransferredModel(model, head.to(inputs.device)).eval()
            else:
                transferred = TransferredModel(copy_source(model), head).to(inputs.device)
                finetune(transferred, cfg.head, x_train, y_train, epochs=cfg.finetune_epochs, lr=cfg.finetune_lr,
                         momentum=cfg.finetune_momentum, batch_size=cfg.finetune_batch_size, device=inputs.device,
                         generator=generator)
                with torch.no_grad():
                    pred = torch.cat([transferred(x_test[i:i + cfg.batch_size].to(inputs.device)).argmax(dim=1).cpu()
                                      for i in range(0, x_test.shape[0], cfg.batch_size)])
            metrics[f"{ref.name}.accuracy"] = float((pred == y_test).double().mean())
            metrics[f"{ref.name}.robust_accuracy"] = self.robust_accuracy(
                transferred, attack, x_test[:cfg.robust_n], y_test[:cfg.robust_n], inputs.device, index)
            metrics[f"{ref.name}.class_emd"] = class_mean_emd(source_z, source.y_test, z_test, y_test)
        return TaskResult(metrics)

    def load_target(self, ref: TargetRef, inputs: TaskInput, shape: tuple[int, int, int]) -> DatasetSplits:
        target = inputs.load_dataset(ref.id, dict(ref.params))  # type: ignore[misc]
        if tuple(target.shape) == tuple(shape):
            return target
        if not self.config.match_shape:
            raise UsageError(
                f"transfer target {ref.id!r} has images of shape {tuple(target.shape)} but the source model reads "
                f"{tuple(shape)}; resize it with the dataset's params (real datasets: size = {shape[1]}, "
                f"channels = {shape[0]}) or set match_shape = true in the transfer task's params")
        return DatasetSplits(reshape_images(target.x_train, shape), target.y_train,
                             reshape_images(target.x_test, shape),
                             target.y_test, target.num_classes, target.class_names, dict(target.meta))

    def robust_accuracy(self, model: nn.Module, attack: Any, x: torch.Tensor, y: torch.Tensor,
                        device: torch.device, index: int) -> float:
        """Fraction of (x, y) classified correctly clean and under ``attack``, by this task's forward pass."""
        cfg = self.config
        threat = cfg.threat()
        correct = 0
        for offset in range(0, x.shape[0], cfg.batch_size):
            xb, yb = x[offset:offset + cfg.batch_size].to(device), y[offset:offset + cfg.batch_size].to(device)
            attack.seed = attack_seed(self.seed, index, offset)
            x_adv = attack(model, xb, yb, threat).x_adv
            with torch.no_grad():
                ok = (model(xb).argmax(dim=1) == yb) & (model(x_adv).argmax(dim=1) == yb)
            correct += int(ok.sum())
        return correct / max(1, x.shape[0])


def attack_seed(seed: int, target_index: int, offset: int) -> int:
    """A distinct attack seed per (task seed, target, batch offset)."""
    return (seed * 1_000_003 + target_index * 65_537 + offset) % (2**63 - 1)
