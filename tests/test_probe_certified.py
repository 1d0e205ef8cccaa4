"""Probe.__call__ validates the structured certified accuracies a probe reports (ProbeResult.certified)."""
import pytest
import torch
from torch import nn

from bench.api import CertifiedAccuracy, Probe, ProbeInput, ProbeResult
from bench.errors import RobarenaError


def _probe(certified):
    class Reports(Probe):
        def run(self, model, data, generator):
            return ProbeResult({}, certified=certified)

    data = ProbeInput(x=torch.zeros(4, 1, 2, 2), y=torch.zeros(4, dtype=torch.long), num_classes=2,
                      device=torch.device("cpu"))
    return Reports()(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), data)


def test_valid_certified_accuracies_pass_through_as_plain_numbers():
    import numpy as np

    out = _probe([CertifiedAccuracy("Linf", 0.1, "0.1", np.int64(3), 4),
                  CertifiedAccuracy("L2", 0.5, "0.5", 1, 4, "smoothed", empirical_correct=2, empirical_source="pgd")])
    assert [(c.norm, c.eps, c.correct, c.classifier, c.empirical_correct) for c in out.certified] == [
        ("Linf", 0.1, 3, "base", None), ("L2", 0.5, 1, "smoothed", 2)]
    assert type(out.certified[0].correct) is int


@pytest.mark.parametrize("bad, message", [
    (CertifiedAccuracy("L1", 0.1, "0.1", 1, 4), "norm must be 'Linf' or 'L2'"),
    (CertifiedAccuracy("Linf", 0.0, "0", 1, 4), "eps must be a finite radius > 0"),
    (CertifiedAccuracy("Linf", 0.1, "0.1", 5, 4), "a count exceeds n = 4"),
    (CertifiedAccuracy("Linf", 0.1, "0.1", 1.5, 4), "must be integers >= 0"),
    (CertifiedAccuracy("Linf", 0.1, "0.1", 1, 4, "ensemble"), "classifier must be 'base' or 'smoothed'"),
    (CertifiedAccuracy("L2", 0.1, "0.1", 1, 4, "smoothed", empirical_correct=2), "needs its empirical_source"),
    ({"norm": "Linf"}, "is not a CertifiedAccuracy"),
])
def test_bad_certified_accuracies_are_refused_naming_the_problem(bad, message):
    with pytest.raises(RobarenaError, match=message):
        _probe([bad])


def test_the_same_threat_twice_is_refused():
    c = CertifiedAccuracy("Linf", 0.1, "0.1", 1, 4)
    with pytest.raises(RobarenaError, match="reported twice"):
        _probe([c, c])
