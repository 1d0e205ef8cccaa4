"""The sandwich check: a certified accuracy may never exceed the empirical robust accuracy at the same radius.

Certified accuracy is a lower bound of the true robust accuracy and an attack's robust accuracy an
upper bound, so ``certified > empirical`` on the same classifier, examples and radius means a bug in
the certifier or the attack. Torch-free; meant for the runner's cross-cell check.
"""
from __future__ import annotations

import math
from typing import Mapping, Union

Key = Union[str, float]


def sandwich_violations(certified: Mapping[Key, float], empirical: Mapping[Key, float],
                        tolerance: float = 0.0) -> list[str]:
    """One message per radius present in both where ``certified > empirical + tolerance``.

    Both map a radius (a number, or its text as written, e.g. ``"8/255"``; keys are matched as given)
    to an accuracy in [0, 1]. Radii in only one mapping and nan values are not compared.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    out = []
    for key, cert in certified.items():
        if key not in empirical:
            continue
        emp = empirical[key]
        if cert is None or emp is None or math.isnan(cert) or math.isnan(emp):
            continue
        if cert > emp + tolerance:
            out.append(f"certified accuracy {cert:.4f} exceeds empirical robust accuracy {emp:.4f} at radius "
                       f"{key}: a bug in the certifier or the attack")
    return out
