"""RobustBench's model-info JSON (``model_info/<dataset>/<threat>/<name>.json``): read, write, published values.

RobustBench stores one JSON object per leaderboard entry, accuracies as strings in percent, e.g.
``{"link": ..., "name": "Unlabeled Data Improves Adversarial Robustness", "authors": ...,
"additional_data": true, "number_forward_passes": 1, "dataset": "cifar10", "venue": "NeurIPS 2019",
"architecture": "WideResNet-28-10", "eps": "8/255", "clean_acc": "89.69", "reported": "62.5",
"autoattack_acc": "59.53"}``. :class:`ModelInfo` reads that form (unknown fields are kept),
:func:`model_info_for_row` writes one for a robarena row (clean and worst-case accuracy, fractions
in [0, 1]), and :func:`published_for` gives the published values of a supported zoo model id for a
table's "published" column. The format itself (reading, validating, writing) lives in robarena's core,
:mod:`bench.published`; this module re-exports it under its earlier names.
"""
from __future__ import annotations

from bench.published import ModelInfo, model_info_for_row, read_model_info, write_model_info

__all__ = ["ModelInfo", "read_model_info", "write_model_info", "model_info_for_row", "published_for", "model_info_for"]


def published_for(model_id: str) -> tuple[float, float, str]:
    """``(clean, robust, source)`` RobustBench publishes for a supported ``robustbench/...`` id.

    Accuracies are fractions (AutoAttack accuracy as the robust one); ``source`` names the
    model-info file and commit. Unsupported ids raise :class:`bench.errors.UnknownComponentError`.
    """
    from robarena_robustbench.zoo import entry_for

    entry = entry_for(model_id)
    return round(entry.clean_acc / 100.0, 6), round(entry.autoattack_acc / 100.0, 6), entry.source


def model_info_for(model_id: str) -> ModelInfo:
    """The published entry of a supported zoo id, in RobustBench's model-info form."""
    from robarena_robustbench.zoo import entry_for

    e = entry_for(model_id)
    return ModelInfo(name=e.paper, link=e.link, dataset=e.dataset, eps=e.eps, clean_acc=f"{e.clean_acc:.2f}",
                     autoattack_acc=f"{e.autoattack_acc:.2f}", architecture=e.description.split(" (")[0])
