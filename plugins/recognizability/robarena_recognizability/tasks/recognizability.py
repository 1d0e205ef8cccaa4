"""Human-recognizability grids of unbounded targeted perturbations (P3 Fig. 1.1, 4.2, Appendix F).

Paper: Helland and VanHoudnos (P3), Sec. 4.1: "we use the targeted variant of Madry PGD
Eq. (2.3) [...] setting the perturbation budget to eps = inf [...] a stepsize of 2/255 and run
each perturbation for 2,048 iterations"; Fig. 4.2: "Each image is the result of a distinct
perturbation, which is initialized with random noise. In each column, we initialize the
adversarial perturbations with the random noise shown in (a)." Appendix F: the same program
is model inversion (Fredrikson et al. 2015).

Protocol. ``starts`` noise images, uniform in [0, 1], are drawn from the task's generator,
which the runner seeds with the row's seed: every model trained with the same seed is
attacked from the *same* starts. Each start is perturbed toward every target class with the
registered ``classics/pgd-unbounded`` (built through :meth:`~bench.api.TaskInput.component` and
declared in :meth:`Recognizability.dependencies`; ``start="input"`` so it begins at the shared
noise, ``early_stop=False``: all steps are run, as P3 does for its images). The grid PNG has one row per start and one column per target
class; a second PNG shows the starts as one column (P3 Fig. 4.2(a)).

Quantitative proxy (P3 judges by eye). A *judge*, a classifier that took no part in the attack
(:mod:`.judge`: by default ``classics/small-cnn`` trained with ``classics/standard`` on the same
dataset with seed 1000 and the default training budget; or a checkpoint; or ``"self"``, the
attacked model, for sanity checks), labels every perturbation. Metrics:

* ``judge_target_rate``: fraction of perturbations the judge assigns to their target class
  (1 / K for perturbations that carry no class information to the judge);
* ``target_success``: fraction the attacked model itself assigns to the target;
* ``judge_clean_accuracy``: the judge's accuracy on the test split (is it a competent judge?);
* ``rms_change``: mean over perturbations of the root-mean-square per-pixel change from the start.

Judge-free measures of P3's two observations (Sec. 4.2: undefended models' perturbations "are
more perceptually similar to the initial point than they are to a human characterization of the
target class"; defended models' are "recognizable perturbations of the target classes"), with
``corr`` the Pearson correlation of two flattened images:

* ``start_correlation``: mean ``corr(x_adv, its start)`` (1 when nothing moved);
* ``class_consistency``: mean ``corr`` between perturbations toward the *same* target from
  different starts minus the mean ``corr`` between perturbations toward *different* targets
  from different starts: how much the result is set by the target class rather than by the
  start (0 when every column of a row is the same image; NaN with fewer than 2 starts or classes).

Caveat: adversarial examples transfer between standard models, so a standard judge may also
"recognize" some non-robust perturbations of standard models; and on small, simple images
(8x8 digits) even a standard model's unbounded perturbations carry the class's template
(Fredrikson et al. 2015 found inversions of linear models and small networks recognizable), so
the judge's rate can saturate near 1 for every non-degenerate model. The proxy compares models
under the same judge; it is not a human study.

Artifacts: ``grid`` and ``starts`` (PNG bytes); arrays ``x_adv`` (starts * K, C, H, W) in
row-major grid order, ``target``, ``model_pred``, ``judge_pred``.

Args (``RecognizabilityConfig``): starts=10, classes=None (all), steps=2048 (P3),
step_size=2/255 (P3), batch_size=250, judge="train", judge_model="classics/small-cnn",
judge_model_params={}, judge_defense="classics/standard", judge_seed=1000,
judge_train=TrainConfig(), judge_checkpoint=None, scale=1, padding=2.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from bench.api import BaseConfig, Cost, Task, TaskDependency, TaskInput, TaskResult, TrainConfig
from bench.eps import Eps
from bench.errors import UsageError
from bench.steps import Steps
from bench.threat import ThreatModel
from robarena_recognizability.tasks.judge import get_judge, judge_provenance

#: The registered attack that draws the perturbations (P3's unbounded targeted PGD).
ATTACK = "classics/pgd-unbounded"


class RecognizabilityConfig(BaseConfig):
    """Parameters of :class:`Recognizability` (attack defaults: P3 Sec. 4.1)."""

    starts: int = Field(10, ge=1, description="noise starts = grid rows")
    classes: Optional[list[int]] = Field(None, description="target classes = grid columns (default: all)")
    steps: Steps = Field(2048, description="signed-gradient steps (P3: 2048)")
    step_size: Eps = Field(Eps("2/255"), description="per-pixel step (P3: 2/255); '2/255' accepted")
    batch_size: int = Field(250, ge=1, description="perturbations attacked together")
    judge: Literal["train", "checkpoint", "self"] = Field(
        "train", description="'train': train judge_model with judge_defense; 'checkpoint': load "
                             "judge_checkpoint into judge_model; 'self': the attacked model")
    judge_model: str = Field("classics/small-cnn", description="registered architecture of the judge")
    judge_model_params: dict[str, Any] = Field(default_factory=dict, description="its parameters")
    judge_defense: str = Field("classics/standard", description="registered defense that trains the judge")
    judge_seed: int = Field(1000, description="the judge's seed (fixed, distinct from the models' seeds)")
    judge_train: TrainConfig = Field(default_factory=TrainConfig, description="the judge's training budget")
    judge_checkpoint: Optional[str] = Field(None, description="weights of a pretrained judge (.safetensors/.pt)")
    scale: int = Field(1, ge=1, description="nearest-neighbour upscaling of the PNG images")
    padding: int = Field(2, ge=0, description="pixels between grid cells (white)")

    @model_validator(mode="after")
    def _check_judge(self) -> "RecognizabilityConfig":
        if self.judge == "checkpoint" and not self.judge_checkpoint:
            raise ValueError("judge = 'checkpoint' needs judge_checkpoint = 'path/to/weights.safetensors'")
        if self.judge != "checkpoint" and self.judge_checkpoint:
            raise ValueError("judge_checkpoint is only read with judge = 'checkpoint'")
        if self.classes is not None and (not self.classes or len(set(self.classes)) != len(self.classes)):
            raise ValueError(f"classes must be a non-empty list of distinct class indices, got {self.classes}")
        return self


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Arg-max predictions (N,) in batches, on ``x``'s device."""
    return torch.cat([model(x[i:i + batch_size]).argmax(dim=1) for i in range(0, x.shape[0], batch_size)])


def grid_png(images: torch.Tensor, nrow: int, scale: int = 1, padding: int = 2) -> bytes:
    """PNG bytes of ``images`` (N, C, H, W) in [0, 1] laid out ``nrow`` per row.

    ``torchvision.utils.make_grid`` lays out the grid (white padding; grey images become RGB);
    Pillow encodes it (torchvision's own PNG encoder is deprecated since 0.29).
    """
    from io import BytesIO

    from PIL import Image
    from torchvision.utils import make_grid

    images = images.detach().float().cpu().clamp(0, 1)
    if scale > 1:
        images = F.interpolate(images, scale_factor=scale, mode="nearest")
    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=1.0)
    pixels = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    out = BytesIO()
    Image.fromarray(pixels, mode="RGB").save(out, format="PNG")
    return out.getvalue()


def _standardized(t: torch.Tensor) -> torch.Tensor:
    """Rows centred and scaled to unit norm, so that dot products are Pearson correlations."""
    t = t - t.mean(dim=-1, keepdim=True)
    return t / t.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def start_and_class_correlation(x_adv: torch.Tensor, starts: torch.Tensor) -> tuple[float, float]:
    """(``start_correlation``, ``class_consistency``) of a grid ``x_adv`` (S * K, ...) in row-major
    order (row s, column k) grown from ``starts`` (S, ...); see the module docstring.

    All pairwise correlations come from one (S K) x (S K) matrix product, memory O((S K)^2).
    """
    s, k = starts.shape[0], x_adv.shape[0] // starts.shape[0]
    z = _standardized(x_adv.reshape(s * k, -1).double())
    z0 = _standardized(starts.reshape(s, -1).double()).repeat_interleave(k, dim=0)
    start_corr = float((z * z0).sum(dim=1).mean())
    if s < 2 or k < 2:
        return start_corr, float("nan")
    corr = z @ z.T
    row = torch.arange(s * k, device=z.device) // k
    col = torch.arange(s * k, device=z.device) % k
    other_start = row[:, None] != row[None, :]
    same_class = col[:, None] == col[None, :]
    return start_corr, float(corr[other_start & same_class].mean() - corr[other_start & ~same_class].mean())


def judge_training_cost(defense: str, train: TrainConfig, n_train: int) -> Cost:
    """Passes of the judge's training: the registered ``defense``'s declared cost (default parameters, as
    :func:`~robarena_recognizability.tasks.judge.build_judge` builds it), else standard training's
    1 forward + 1 backward per example and epoch."""
    from bench.registry import get_registry

    impl = get_registry().get("defense", defense).load()
    declared = impl(config=impl.Config(), train=train).cost(n_train) if callable(getattr(impl, "cost", None)) \
        else None
    return declared if declared is not None else Cost.steps(train.epochs * n_train)


def shared_starts(num: int, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """(num, C, H, W) uniform noise in [0, 1] from ``generator`` (the same for every model of a seed)."""
    return torch.rand((num, *shape), generator=generator, device=generator.device)


class Recognizability(Task):
    """Unbounded targeted perturbations from shared noise starts, one column per target class.

    See the module docstring for the protocol, metrics and artifacts (P3 Fig. 4.2).
    """

    Config = RecognizabilityConfig

    def classes(self, num_classes: int) -> list[int]:
        classes = self.config.classes if self.config.classes is not None else list(range(num_classes))
        bad = [c for c in classes if not 0 <= c < num_classes]
        if bad:
            raise UsageError(f"recognizability: classes {bad} are not in 0..{num_classes - 1}")
        return list(classes)

    def cost(self, n: int, n_train: int, num_classes: Optional[int] = None) -> Optional[Cost]:
        """The whole cell (``bench.api.cost``), judge passes counted as example passes though the judge may be
        another architecture. Per grid image (``starts x`` the target classes): the label forward, ``steps``
        forward + backward passes of the attack (``early_stop=False``: all run), the model's and the judge's
        predictions (``steps + 3`` forwards, ``steps`` backwards); the judge's accuracy on
        the test split (1 forward per test image: ``n``, the whole split when the suite evaluates all of it);
        with ``judge = "train"`` the judge's training on the ``n_train`` examples (its defense's declared cost
        with ``judge_train``, else 1 forward + 1 backward per example and epoch) -- an upper bound, as the
        judge is trained once per process and shared by the cells that follow. None when ``classes`` is
        not set and ``num_classes`` is not given (the columns are then the dataset's classes, which
        ``cost(n, n_train)`` is not told)."""
        cfg = self.config
        k = len(cfg.classes) if cfg.classes is not None else num_classes
        if k is None:
            return None
        images = cfg.starts * k
        cost = (Cost.steps(cfg.steps) + Cost(3.0, 0.0)) * images + Cost(float(n), 0.0)
        if cfg.judge == "train":
            cost = cost + judge_training_cost(cfg.judge_defense, cfg.judge_train, n_train)
        return cost

    def attack_params(self) -> dict[str, Any]:
        """Parameters of the :data:`ATTACK`: the configured steps from the given starts, all run."""
        cfg = self.config
        return {"steps": cfg.steps, "step_size": float(cfg.step_size), "start": "input", "early_stop": False}

    def perturb(self, model: nn.Module, x0: torch.Tensor, target: torch.Tensor, inputs: TaskInput) -> torch.Tensor:
        """Targeted unbounded PGD (:data:`ATTACK`) from ``x0`` toward ``target``."""
        cfg = self.config
        attack = inputs.component("attack", ATTACK, self.attack_params(), seed=self.seed)
        threat = ThreatModel(norm="unbounded", targeted=True)
        out = []
        with inputs.progress_bar(x0.shape[0], "recognizability", unit="image") as bar:
            for i in range(0, x0.shape[0], cfg.batch_size):
                xb, tb = x0[i:i + cfg.batch_size], target[i:i + cfg.batch_size]
                yb = predict(model, xb, cfg.batch_size)  # the attack needs labels; targeted PGD ignores them
                out.append(attack(model, xb, yb, threat, target=tb).x_adv)
                bar.update(xb.shape[0])
        return torch.cat(out)

    def dependencies(self) -> list[TaskDependency]:
        """The judge (:func:`~robarena_recognizability.tasks.judge.judge_provenance`) and the attack
        (:data:`ATTACK` with :meth:`attack_params`): in the cell's key and meta."""
        return [judge_provenance(self.config),
                TaskDependency("attack", components={"attack": ("attack", ATTACK)},
                               settings={"params": self.attack_params()})]

    def judge_for(self, model: nn.Module, inputs: TaskInput) -> nn.Module:
        cfg = self.config
        if cfg.judge == "self":
            return model
        return get_judge(inputs.data, inputs.device, model=cfg.judge_model, model_params=cfg.judge_model_params,
                         defense=cfg.judge_defense, seed=cfg.judge_seed, train=cfg.judge_train,
                         checkpoint=cfg.judge_checkpoint, progress=inputs.progress)

    def run(self, model: nn.Module, inputs: TaskInput, generator: torch.Generator) -> TaskResult:
        cfg, data, device = self.config, inputs.data, inputs.device
        classes = self.classes(data.num_classes)
        k = len(classes)
        starts = shared_starts(cfg.starts, data.shape, generator).to(device)
        x0 = starts.repeat_interleave(k, dim=0)  # row s of the grid: entries s * k .. s * k + k - 1
        target = torch.tensor(classes, dtype=torch.long, device=device).repeat(cfg.starts)
        x_adv = self.perturb(model, x0, target, inputs)
        judge = self.judge_for(model, inputs)
        judge.eval()
        model_pred = predict(model, x_adv, cfg.batch_size)
        judge_pred = predict(judge, x_adv, cfg.batch_size)
        judge_test = predict(judge, data.x_test.to(device), cfg.batch_size)
        rms = (x_adv - x0).flatten(1).pow(2).mean(dim=1).sqrt()
        start_corr, consistency = start_and_class_correlation(x_adv, starts)
        metrics = {
            "judge_target_rate": float((judge_pred == target).double().mean()),
            "target_success": float((model_pred == target).double().mean()),
            "judge_clean_accuracy": float((judge_test.cpu() == data.y_test).double().mean()),
            "rms_change": float(rms.double().mean()),
            "start_correlation": start_corr,
            "class_consistency": consistency,
        }
        artifacts = {
            "grid": grid_png(x_adv, nrow=k, scale=cfg.scale, padding=cfg.padding),
            "starts": grid_png(starts, nrow=1, scale=cfg.scale, padding=cfg.padding),
            "x_adv": x_adv.cpu().numpy(), "target": target.cpu().numpy(),
            "model_pred": model_pred.cpu().numpy(), "judge_pred": judge_pred.cpu().numpy(),
        }
        return TaskResult(metrics, artifacts)
