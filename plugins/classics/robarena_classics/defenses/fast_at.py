"""Fast FGSM adversarial training (Wong, Rice & Kolter 2020, "Fast is better than free").

Every minibatch is replaced by FGSM examples taken from a *random* start:
``delta_0 ~ U(B_eps)``, ``x' = P(x + delta_0 + alpha * sign(grad_x CE(f(x + delta_0), y)))``
with ``alpha = 1.25 eps`` (Wong et al.: 10/255 at eps 8/255; P3's FGSM defense, "random initialization
... and early stopping"). P1's FGSM-AT (B.6: PGD-AT with PGD replaced by FGSM, no random start) is
``margins/fgsm-at``, not this defense. For L2 the step is
along the unit-L2 gradient and the start uniform in the L2 ball.

Catastrophic overfitting check (Wong et al. Sec. 5, their ``--early-stop``): at the end of
every epoch, PGD (5 steps of eps / 4, Wong et al.'s 2/255 at eps 8/255, random start, one run;
L2: 2.5 eps / steps) attacks the *first minibatch of
that epoch*; if its robust accuracy falls by more than 0.2 below the previous epoch's, training
stops and the model is rolled back to the state at the end of the previous epoch (the first
check compares with 0, as in the reference code, so it never stops). After a stop the
remaining epochs make no update (the loss is a constant with no parameter in its graph, so
the optimizer skips every parameter); ``ctx.log`` records ``check_robust_acc`` per epoch and
``stopped_epoch`` (None if it never stopped). Both travel with the epoch checkpoints, and a run
resumed from one rebuilds the check from them (reference accuracy: the last logged check; the
rollback state: the resumed weights, the end of the last epoch that passed), so it continues
exactly as the uninterrupted run would.

The FGSM examples are crafted with the model in eval mode (as PGD-AT does here; Wong et al.
stay in train mode), so batch-norm statistics come from the training loss's forward only.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.api import Cost, Defense, DatasetSplits, TrainContext
from bench.api.training import fit_with_loss
from bench.eps import Eps
from bench.steps import StepBudget, Steps
from bench.threat import ThreatConfig, ThreatModel
from bench.stats import default_step_size
from bench.toolkit import eval_mode, pgd_steps

#: Wong et al.'s FGSM step as a multiple of eps (10/255 at eps 8/255).
STEP_RATIO = 1.25


class FastATConfig(ThreatConfig):
    """Parameters of :class:`FastAT` (defaults: Wong et al. 2020, CIFAR-10)."""

    norm: Literal["Linf", "L2"] = Field("Linf", description="threat model of the FGSM step")
    eps: Eps = Field(Eps("8/255"), description="radius of the training ball; '8/255' accepted")
    step_size: Optional[float] = Field(None, gt=0, description="FGSM step alpha; None = 1.25 * eps")
    early_stop: bool = Field(True, description="roll back and stop on catastrophic overfitting")
    check_steps: Steps = Field(5, description="PGD steps of the end-of-epoch check")
    check_step_size: Optional[float] = Field(
        None, gt=0, description="check's PGD step; None (default) = scaled to eps: Linf eps / 4 (Wong et al.'s 2/255 "
                                "at eps 8/255), L2 2.5 * eps / check_steps")
    check_drop: float = Field(0.2, gt=0, le=1, description="robust-accuracy drop that counts as a collapse")

    def absolute_step(self) -> float:
        return float(self.step_size) if self.step_size is not None else STEP_RATIO * self.eps

    def absolute_check_step(self) -> float:
        if self.check_step_size is not None:
            return float(self.check_step_size)
        return default_step_size(self.norm, float(self.eps), self.check_steps)

    def step_budgets(self) -> list[StepBudget]:
        """The FGSM training step (from a random start) and, with early_stop, the collapse check's PGD
        (the plan's eps-reachability check; Wong et al.'s 1.25 eps FGSM step is marginal by its rule)."""
        out = [StepBudget(self.norm, float(self.eps), 1, self.absolute_step(), True, "FGSM step of training")]
        if self.early_stop:
            out.append(StepBudget(self.norm, float(self.eps), self.check_steps, self.absolute_check_step(), True,
                                  "PGD of the collapse check"))
        return out


def fgsm_rs_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel, step_size: float,
                     generator: torch.Generator) -> torch.Tensor:
    """FGSM from a uniform random start in the ball (one PGD step, no early stop); model used as is."""
    return pgd_steps(model, x, y, threat, steps=1, step_size=step_size, loss="ce", random_init=True,
                     generator=generator, early_stop=False)


def check_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: FastATConfig,
                   generator: torch.Generator) -> float:
    """Robust accuracy of ``model`` (eval mode, restored after) on ``(x, y)`` under the check's PGD."""
    with eval_mode(model):
        x_adv = pgd_steps(model, x, y, config.threat(), steps=config.check_steps,
                          step_size=config.absolute_check_step(), loss="ce", random_init=True,
                          generator=generator, early_stop=True)
        with torch.no_grad():
            return float((model(x_adv).argmax(dim=1) == y).float().mean())


class CollapseMonitor:
    """Wong et al.'s rule: stop when robust accuracy drops by more than ``drop`` since the last check.

    :meth:`update` keeps a copy of the state of every epoch that passes the check; after a
    collapse, :attr:`best` is the state at the end of the last epoch before it.
    """

    def __init__(self, drop: float) -> None:
        self.drop = drop
        self.previous = 0.0
        self.best: Optional[dict[str, torch.Tensor]] = None
        self.stopped = False

    def update(self, robust_acc: float, state: dict[str, torch.Tensor]) -> bool:
        """Record one epoch's check; returns True when it is a collapse (training must stop)."""
        if robust_acc - self.previous < -self.drop:
            self.stopped = True
            return True
        self.previous = robust_acc
        self.best = {k: v.detach().clone() for k, v in state.items()}
        return False


class FastAT(Defense):
    """FGSM adversarial training with random init, alpha = 1.25 eps, and the collapse check.

    Args:
        config: :class:`FastATConfig` — norm="Linf", eps=8/255, step_size=None (1.25 eps),
            early_stop=True, check_steps=5, check_step_size=None (eps / 4: 2/255 at 8/255), check_drop=0.2.
        train: the suite's :class:`bench.api.TrainConfig` (Wong et al. use a cyclic schedule).

    Cost: 2 forward/backward passes per minibatch, plus ``check_steps + 1`` per epoch for the check.
    """

    Config = FastATConfig

    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        config = self.config
        threat, alpha = config.threat(), config.absolute_step()
        monitor = CollapseMonitor(config.check_drop)
        first: dict[str, Any] = {"batch": None}
        ctx.log["check_robust_acc"], ctx.log["stopped_epoch"] = [], None  # per epoch, saved with each checkpoint

        def loss_fn(m: nn.Module, x: torch.Tensor, y: torch.Tensor, c: TrainContext) -> torch.Tensor:
            if monitor.stopped:  # no parameter in the graph: the optimizer leaves every weight alone
                return torch.zeros((), device=x.device, requires_grad=True)
            if first["batch"] is None:
                first["batch"] = (x.detach(), y.detach())
            with eval_mode(m):
                x_adv = fgsm_rs_examples(m, x, y, threat, alpha, c.generator)
            return F.cross_entropy(m(x_adv), y)

        def after_epoch(m: nn.Module, epoch: int) -> None:
            if not config.early_stop or monitor.stopped or first["batch"] is None:
                return
            xb, yb = first["batch"]
            first["batch"] = None
            acc = check_accuracy(m, xb, yb, config, ctx.generator)
            ctx.log["check_robust_acc"].append(acc)
            if monitor.update(acc, m.state_dict()) and monitor.best is not None:
                m.load_state_dict(monitor.best)
                ctx.log["stopped_epoch"] = epoch

        def on_resume(m: nn.Module, epoch: int) -> None:
            """The monitor as the uninterrupted run had it after ``epoch`` epochs (``ctx.log`` is restored)."""
            ctx.log["check_robust_acc"] = list(ctx.log.get("check_robust_acc") or [])
            monitor.stopped = ctx.log.get("stopped_epoch") is not None
            if ctx.log["check_robust_acc"] and not monitor.stopped:
                monitor.previous = ctx.log["check_robust_acc"][-1]
                monitor.best = {k: v.detach().clone() for k, v in m.state_dict().items()}

        return fit_with_loss(model, data, self.train, ctx, loss_fn, after_epoch=after_epoch, on_resume=on_resume)

    def cost(self, n_train: int) -> Cost:
        """Per example and epoch 2 forward + backward passes (the FGSM step, the loss); with ``early_stop``,
        per epoch on its first minibatch ``check_steps`` forward + backward passes and 1 forward (an upper
        bound: training that stops early makes no more passes) (``bench.api.cost``)."""
        c, epochs = self.config, self.train.epochs
        total = Cost.steps(2) * (epochs * n_train)
        if c.early_stop:
            total = total + (Cost.steps(c.check_steps) + Cost(1, 0)) * (epochs * min(self.train.batch_size, n_train))
        return total
