"""Components for the scale and fault-tolerance tests (loaded with ``-p robarena_scalekit``).

They simulate running out of memory: the runner must retry evaluation cells with halved
batches and record training failures as they are. Every call records the batch it saw in
``SEEN`` (per process) so tests can check the retry sequence.
"""
from __future__ import annotations

import torch
from pydantic import Field
from robarena_testkit_impl import ERM, SignStep, SignConfig

from bench.api import Probe
from bench.hookspecs import hookimpl
from bench.specs import AttackSpec, DefenseSpec, ProbeSpec

SEEN: dict[str, list[int]] = {"attack": [], "probe": [], "defense": []}


def out_of_memory(what: str) -> torch.cuda.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError(f"CUDA out of memory (simulated by {what})")


class OomSignConfig(SignConfig):
    max_batch: int = Field(10, ge=1)


class OomSign(SignStep):
    """The test kit's sign attack, out of memory on batches larger than ``max_batch``."""

    Config = OomSignConfig

    def run(self, model, x, y, threat, generator, target=None):
        SEEN["attack"].append(x.shape[0])
        if x.shape[0] > self.config.max_batch:
            raise out_of_memory("oom-sign")
        return super().run(model, x, y, threat, generator, target)


class AlwaysOom(Probe):
    def run(self, model, data, generator):
        SEEN["probe"].append(data.batch_size)
        raise RuntimeError("CUDA error: out of memory (simulated by oom-probe)")


class OomTraining(ERM):
    def fit(self, model, data, ctx):
        SEEN["defense"].append(self.train.batch_size)
        raise out_of_memory("oom-train")


M = __name__


@hookimpl
def robarena_attacks():
    return [AttackSpec(name="oom-sign", version="1", target=f"{M}:OomSign", norms=["Linf", "L2"], targeted=True)]


@hookimpl
def robarena_probes():
    return [ProbeSpec(name="oom-probe", version="1", target=f"{M}:AlwaysOom", columns=["never"])]


@hookimpl
def robarena_defenses():
    return [DefenseSpec(name="oom-train", version="1", target=f"{M}:OomTraining")]
