"""The ``corruptions`` plugin: specs only (the ``corruption-accuracy`` probe).

The corruption threat kind is to be added to the runner; until then the generators are used
through :func:`robarena_corruptions.corrupt` and the probe. This module imports neither torch nor
any implementation module.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import Paper, ProbeSpec

PKG = "robarena_corruptions"

HENDRYCKS2019 = Paper(
    title="Benchmarking Neural Network Robustness to Common Corruptions and Perturbations",
    authors="D. Hendrycks, T. Dietterich", year=2019, url="https://arxiv.org/abs/1903.12261",
    key="Hendrycks2019",
)

NAMES = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
         "snow", "frost", "fog", "brightness", "contrast", "elastic", "pixelate", "jpeg")


@hookimpl
def robarena_probes() -> list[ProbeSpec]:
    return [
        ProbeSpec(
            name="corruption-accuracy", version="1", target=f"{PKG}.probes.corruption_accuracy:CorruptionAccuracy",
            paper=HENDRYCKS2019, columns=["clean_acc", "corruption_acc", *[f"acc_{n}" for n in NAMES]],
            summary="clean accuracy and accuracy under each of the 15 common corruptions at one severity "
                    "(default 3); corruption_acc is their mean",
        ),
    ]
