"""What each attack-failure indicator means, for the web page's flag badges and its explanations table.

A flag is ``<indicator>`` or ``<indicator>:<where>`` (:mod:`bench.runner.flags` for the
indicators computed across a row's cells, the ``classics/integrity`` probe for the model-level
ones; docs/probes.md, "Attack-failure indicators", has the definitions and thresholds). A test
fires every indicator of :mod:`bench.runner.flags` and reads the probe's flag table in
docs/probes.md, and fails when one is missing here. Flags of third-party probes have no entry:
the page shows them with a pointer to the probe's own documentation.
"""
from __future__ import annotations

from typing import Optional

DOCS = "docs/probes.md, section “Attack-failure indicators”, and bench/runner/flags.py"
UNKNOWN = ("an indicator this robarena version does not describe (a third-party probe's flag): see that "
           "probe's documentation")

#: indicator -> (where it comes from, what it means)
INDICATORS: dict[str, tuple[str, str]] = {
    "non-monotone-eps": (
        "runner, across cells",
        "robust accuracy rises with eps for one attack and norm: a larger budget contains the smaller one, so a "
        "working attack can only do better; the attack is not finding adversarial examples it should"),
    "unbounded-attack-failed": (
        "runner, across cells",
        "an attack with no budget (box only) left robust accuracy above 1 %; with no budget a working attack "
        "reaches about 0 %, so the attack (or the model's gradients) is broken"),
    "transfer-beats-white-box": (
        "runner, across cells",
        "a transfer attack (crafted on a substitute model) gave lower robust accuracy than every white-box "
        "gradient attack at the same threat model; white-box attacks see strictly more, so their gradients are "
        "likely masked"),
    "gradient-free-beats-white-box": (
        "runner, across cells",
        "an attack that uses no gradients (e.g. Square) gave lower robust accuracy than every white-box gradient "
        "attack at the same threat model: a sign of gradient masking"),
    "ce-vs-margin-loss-gap": (
        "runner, across cells",
        "the best cross-entropy attack left robust accuracy more than 10 points above the best margin-loss "
        "(C&W, DLR) attack at the same threat model: cross-entropy gradients vanish when the softmax saturates, "
        "so the CE attacks' numbers are not to be trusted"),
    "certified-exceeds-empirical": (
        "runner, across cells",
        "a certified accuracy (a provable lower bound of robust accuracy, e.g. certify/ibp or randomized "
        "smoothing) is above the empirical robust accuracy of the same classifier at the same threat (an upper "
        "bound, from attacks): that cannot happen, so one of the two is wrong — a bug in the certifier (an "
        "unsound bound) or in the attack (it reports broken examples that are not), or mismatched examples"),
    "zero-gradients": (
        "classics/integrity probe",
        "more than 5 % of the examples have an exactly zero input gradient of the logit margin (a rounding or "
        "quantisation layer, detach or no_grad in the forward pass): gradient attacks cannot work"),
    "nan-gradients": (
        "classics/integrity probe",
        "some example's input gradient or margin is not finite: gradient attacks cannot work"),
    "tiny-gradients": (
        "classics/integrity probe",
        "more than 5 % of the examples have a margin gradient too small to reach the decision boundary anywhere "
        "in the input box (linearised): a sign of gradient masking"),
    "randomized-output": (
        "classics/integrity probe",
        "two forward passes in eval mode gave different logits: the model is randomised and needs EOT attacks "
        "(classics/pgd-eot)"),
    "attack-loss-not-converged": (
        "classics/integrity probe",
        "more PGD steps from the best point any attack found still raised the loss (or fooled more than 1 % of "
        "the examples) at this threat model: the suite's attacks stopped before converging"),
}


def indicator(flag: str) -> str:
    """``'non-monotone-eps:pgd Linf'`` -> ``'non-monotone-eps'``."""
    return flag.split(":", 1)[0].strip()


def explain(flag: str) -> Optional[str]:
    """What the flag's indicator means, or None for an indicator without an entry."""
    entry = INDICATORS.get(indicator(flag))
    return None if entry is None else entry[1]


def anchor(name: str) -> str:
    """The id of an indicator's row in the page's explanations table."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
    return f"flag-{safe}"
