"""The state-dict key mapping from a RobustBench zoo checkpoint to :class:`~robarena_robustbench.zoo.ZooClassifier`.

A zoo file, once read weights-only (robarena's loader already unwraps ``{'state_dict': ...}``), holds
the network's parameters under the zoo's names, often behind DataParallel's ``module.`` prefix, and,
for the entries with an input normalization layer, the normalization as buffers: ``mu``/``sigma``
of shape (1, 3, 1, 1) (e.g. Wong2020Fast, Rice2020Overfitting, Engstrom2019Robustness) or
``mean``/``std`` of shape (3, 1, 1) (DeepMind's WideResNets; older files lack them, then the
entry's published constants are used). The mapping:

* ``{'state_dict': sd}`` and ``{'model_state_dict': sd}`` are unwrapped;
* every leading ``module.`` is removed;
* the entry's normalization buffers become ``normalize.mean``/``normalize.std`` (1, C, 1, 1);
* every other key ``k`` becomes ``net.k``.

A state dict already in robarena's layout (keys under ``net.``) passes through unchanged.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from bench.errors import UsageError


def strip_module_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in state.items():
        while key.startswith("module."):
            key = key[len("module."):]
        out[key] = value
    return out


def zoo_state_to_robarena(state: Mapping[str, Any], entry: Any) -> dict[str, Any]:
    """Map a zoo checkpoint's state dict (see the module docstring) to ZooClassifier's keys."""
    for wrapper in ("state_dict", "model_state_dict"):
        if isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if any(k.startswith("net.") for k in state) and not any(k.startswith("module.") for k in state):
        return dict(state)
    state = strip_module_prefix(state)
    mean_key, std_key = entry.norm_keys
    out: dict[str, Any] = {}
    channels = None
    if entry.mean is not None:
        mean = state.pop(mean_key, None) if mean_key else None
        std = state.pop(std_key, None) if std_key else None
        mean = torch.tensor(entry.mean, dtype=torch.float32) if mean is None else mean
        std = torch.tensor(entry.std, dtype=torch.float32) if std is None else std
        channels = mean.numel()
        if std.numel() != channels:
            raise UsageError(f"checkpoint for {entry.name}: normalization {mean_key}/{std_key} have "
                             f"{channels} and {std.numel()} entries")
        out["normalize.mean"] = mean.reshape(1, channels, 1, 1).float()
        out["normalize.std"] = std.reshape(1, channels, 1, 1).float()
    else:
        channels = 3
        out["normalize.mean"] = torch.zeros(1, channels, 1, 1)
        out["normalize.std"] = torch.ones(1, channels, 1, 1)
    for key, value in state.items():
        out[f"net.{key}"] = value
    return out
