"""Attack-failure indicators computed across a row's stored cells (no model needed).

Each function takes the row's attack records (``stage == "attack"``; failed cells are
ignored) and returns flag texts ``"<indicator>:<where>"`` for :attr:`Row.flags`. The
indicators are the signs of gradient masking listed by Athalye, Carlini and Wagner,
"Obfuscated Gradients Give a False Sense of Security" (ICML 2018, Sec. 3.1), and in the
evaluation checklist of Carlini et al., "On Evaluating Adversarial Robustness"
(arXiv:1902.06705, 2019):

* ``non-monotone-eps:<attack> <norm>``: robust accuracy rises with eps for one attack and norm
  (a larger budget contains the smaller one, so a working attack can only do better);
* ``unbounded-attack-failed:<attack> <threat>``: an attack with ``norm = "unbounded"`` (box
  only) leaves robust accuracy above :data:`UNBOUNDED_TOL`; with no budget a working attack
  reaches ~0 %;
* ``transfer-beats-white-box:<attack> <threat>`` / ``gradient-free-beats-white-box:...``: a
  transfer attack (crafted on a substitute) or an attack that uses no gradients
  (``AttackSpec.needs_gradients = False``, e.g. Square) gives strictly lower robust accuracy
  than *every* white-box gradient attack at the same threat model, more than :data:`BEATS_TOL`
  lower. White-box attacks see strictly more than either, so they should do at least as well.

* ``ce-vs-margin-loss-gap:<threat>``: the best white-box gradient attack with the
  cross-entropy loss leaves robust accuracy more than :data:`LOSS_GAP_TOL` above the best one
  with a margin loss (C&W or DLR) at the same threat model. Cross-entropy gradients vanish when
  the softmax saturates (defensive distillation's masking: Carlini and Wagner, "Defensive
  Distillation is Not Robust to Adversarial Examples", arXiv:1607.04311), which margin losses do
  not suffer; a large gap says the CE attacks' numbers are not to be trusted. The loss is the
  attack's ``loss`` parameter (recorded as ``attack_params``).

* ``certified-exceeds-empirical:<probe label> <threat>``: a certified accuracy
  (:attr:`bench.rows.schema.Row.certified`) above the empirical robust accuracy of the same
  classifier at the same threat. Certified accuracy is a lower bound of the true robust accuracy
  and an attack's an upper bound, so one of the two is wrong (:func:`certified_flags`).

The model-level indicators (zero/NaN/tiny gradients, randomized outputs, attack loss not
converged) need the model and come from the ``classics/integrity`` probe's flags.
"""
from __future__ import annotations

from collections import defaultdict

#: robust accuracy (fraction) an unbounded attack may leave before it is flagged: ~0 %.
UNBOUNDED_TOL = 0.01
#: how much lower (fraction) a transfer or gradient-free attack must score than the best white-box one.
BEATS_TOL = 0.0
#: how much higher (fraction) the best CE-loss robust accuracy may be than the best margin-loss one.
LOSS_GAP_TOL = 0.1
CE_LOSSES = frozenset({"ce", "xent", "cross_entropy"})
MARGIN_LOSSES = frozenset({"cw", "dlr", "margin"})


def _ok(attacks: list[dict]) -> list[dict]:
    return [r for r in attacks if r["status"] == "ok"]


def threat_key(meta: dict) -> tuple:
    """An attack record's threat as (norm, eps, targeted), for grouping by parameters."""
    return (meta["threat_norm"], meta["threat_eps"], bool(meta.get("threat_targeted", False)))


def monotonicity_flags(attacks: list[dict]) -> list[str]:
    """Robust accuracy that rises with eps for the same attack and norm signals a broken evaluation."""
    flags = []
    groups: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for rec in _ok(attacks):
        m = rec["meta"]
        targeted = " targeted" if m.get("threat_targeted", False) else ""
        groups[(m["attack"], m["threat_norm"] + targeted)].append((m["threat_eps"], rec["payload"]["robust_accuracy"]))
    for (attack, norm), points in sorted(groups.items()):
        points.sort()
        if any(b[1] > a[1] for a, b in zip(points, points[1:])):
            flags.append(f"non-monotone-eps:{attack} {norm}")
    return flags


def unbounded_flags(attacks: list[dict], tol: float = UNBOUNDED_TOL) -> list[str]:
    """Unbounded (box-only) attacks that leave robust accuracy above ``tol``."""
    return [f"unbounded-attack-failed:{r['meta']['column']}" for r in _ok(attacks)
            if r["meta"]["threat_norm"] == "unbounded" and r["payload"]["robust_accuracy"] > tol]


def attack_kind(meta: dict) -> str:
    """'transfer' (crafted on a substitute), 'gradient-free' (spec needs no gradients) or 'white-box'.

    Records stored before ``needs_gradients`` was recorded count as gradient attacks.
    """
    if meta.get("substitute"):
        return "transfer"
    if meta.get("needs_gradients", True) is False:
        return "gradient-free"
    return "white-box"


def weaker_attack_flags(attacks: list[dict], tol: float = BEATS_TOL) -> list[str]:
    """Transfer or gradient-free attacks beating every white-box gradient attack at their threat model."""
    by_threat: dict[tuple, list[dict]] = defaultdict(list)
    for rec in _ok(attacks):
        by_threat[threat_key(rec["meta"])].append(rec)
    flags = []
    for _threat, recs in sorted(by_threat.items()):
        white = [r["payload"]["robust_accuracy"] for r in recs if attack_kind(r["meta"]) == "white-box"]
        if not white:
            continue
        best_white = min(white)
        for rec in recs:
            kind = attack_kind(rec["meta"])
            if kind != "white-box" and rec["payload"]["robust_accuracy"] < best_white - tol:
                flags.append(f"{kind}-beats-white-box:{rec['meta']['column']}")
    return flags


def loss_gap_flags(attacks: list[dict], tol: float = LOSS_GAP_TOL) -> list[str]:
    """Cross-entropy attacks doing much worse than margin-loss attacks at the same threat model."""
    best: dict[tuple, dict[str, float]] = defaultdict(dict)  # threat -> {"ce"|"margin": lowest robust accuracy}
    shown: dict[tuple, str] = {}
    for rec in _ok(attacks):
        loss = str((rec["meta"].get("attack_params") or {}).get("loss", "")).lower()
        kind = "ce" if loss in CE_LOSSES else "margin" if loss in MARGIN_LOSSES else None
        if kind is None or attack_kind(rec["meta"]) != "white-box":
            continue
        acc, threat = rec["payload"]["robust_accuracy"], threat_key(rec["meta"])
        best[threat][kind] = min(acc, best[threat].get(kind, acc))
        shown[threat] = rec["meta"]["threat"]
    return [f"ce-vs-margin-loss-gap:{shown[threat]}" for threat, b in sorted(best.items())
            if "ce" in b and "margin" in b and b["ce"] > b["margin"] + tol]


def probe_flags(probes: list[dict]) -> list[str]:
    """Flags that probes reported (e.g. ``classics/integrity``), in record order."""
    return [flag for r in probes if r["status"] == "ok" for flag in (r["payload"].get("flags") or [])]


def certified_flags(certified: list) -> list[str]:
    """``certified-exceeds-empirical:<probe label> <threat>`` for every violated sandwich
    (:class:`bench.rows.schema.CertifiedResult` with ``violation``); a smoothed classifier's adds
    `` smoothed``."""
    from bench.rows.labels import threat_label

    return [f"certified-exceeds-empirical:{c.label} {threat_label(c.threat)}"
            + (" smoothed" if c.classifier == "smoothed" else "") for c in certified if c.violation]


def row_flags(attacks: list[dict], probes: list[dict]) -> list[str]:
    """Every indicator that fired for one row: cross-cell ones first, then the probes', no duplicates."""
    flags = (monotonicity_flags(attacks) + unbounded_flags(attacks) + weaker_attack_flags(attacks)
             + loss_gap_flags(attacks) + probe_flags(probes))
    return list(dict.fromkeys(flags))
