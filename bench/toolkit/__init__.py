"""The attack toolkit: public building blocks for plugins' attacks, probes, tasks and defenses.

Importing it imports torch. Plugins use these instead of another plugin's internals; a whole
component of another plugin (a PGD to attack with) comes from the registry instead
(:meth:`bench.api.TaskInput.component`, declared in :meth:`bench.api.Task.dependencies`).

* :mod:`~bench.toolkit.gradients`: ``margin``, ``objective``, ``success``, ``steepest_direction``,
  ``random_start``, ``input_gradient``, ``pgd_steps``, ``madry_step_size``;
* :mod:`~bench.toolkit.models`: ``eval_mode``, ``batched_logits``;
* :mod:`~bench.toolkit.training`: ``cross_entropy_loss``, ``PGDTrainingConfig``, ``pgd_training_loss``.
"""
from bench.toolkit.gradients import (LOSSES, Loss, bcast, input_gradient, madry_step_size, margin, objective,
                                     pgd_steps, random_start, steepest_direction, success)
from bench.toolkit.models import batched_logits, eval_mode
from bench.toolkit.training import PGDTrainingConfig, cross_entropy_loss, pgd_training_loss

__all__ = [
    "LOSSES", "Loss", "bcast", "input_gradient", "madry_step_size", "margin", "objective", "pgd_steps",
    "random_start", "steepest_direction", "success", "batched_logits", "eval_mode", "PGDTrainingConfig",
    "cross_entropy_loss", "pgd_training_loss",
]
