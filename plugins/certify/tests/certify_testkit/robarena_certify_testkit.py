"""Test-only plugin: probes that plant certified accuracies (true or false) for the runner's sandwich check."""
from __future__ import annotations

from bench.api import BaseConfig, CertifiedAccuracy, Probe, ProbeResult
from bench.hookspecs import hookimpl
from bench.specs import ProbeSpec

M = "robarena_certify_testkit"


class OverclaimConfig(BaseConfig):
    eps: float = 0.1


class Overclaim(Probe):
    """Claims every example certified at Linf ``eps`` (base) and at L2 ``eps`` (smoothed, with 1 survivor)."""

    Config = OverclaimConfig

    def run(self, model, data, generator):
        n, eps = int(data.x.shape[0]), self.config.eps
        return ProbeResult({"n": float(n)}, certified=[
            CertifiedAccuracy("Linf", eps, f"{eps:g}", n, n, "base"),
            CertifiedAccuracy("L2", eps, f"{eps:g}", n, n, "smoothed", empirical_correct=1,
                              empirical_source="planted"),
            CertifiedAccuracy("L2", 2 * eps, f"{2 * eps:g}", 0, n, "base"),  # no attack at this threat
        ])


@hookimpl
def robarena_probes():
    return [ProbeSpec(name="overclaim", version="1", target=f"{M}:Overclaim", columns=["n"])]
