"""A test plugin with one ``always`` probe (loaded with ``-p robarena_flagkit`` next to the testkit).

``tripwire`` reports how many attack outputs it received and flags every row with that
number, so tests can follow a probe flag from the probe to every leaderboard output.
"""
from __future__ import annotations

from bench.api import Probe, ProbeResult
from bench.hookspecs import hookimpl
from bench.specs import ProbeSpec


@hookimpl
def robarena_probes():
    return [ProbeSpec(name="tripwire", version="1", target="robarena_flagkit:Tripwire", columns=["n_attacks"],
                      needs_attacks=True, always=True)]


class Tripwire(Probe):
    def run(self, model, data, generator):
        n = len(data.attacks)
        return ProbeResult({"n_attacks": float(n)}, flags=[f"tripwire:{n} attacks"])
