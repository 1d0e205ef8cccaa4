"""The ``corruptions`` plugin: specs only — the 15 corruptions as ``corruption`` components
(``corruptions/<name>``, which suites list as ``[[corruptions]]``), the ``corruption-accuracy``
probe and the ``corruptions-digits`` suite. This module imports neither torch nor any
implementation module.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from bench.specs import CorruptionSpec, Paper, ProbeSpec, SuiteSpec

PKG = "robarena_corruptions"

HENDRYCKS2019 = Paper(
    title="Benchmarking Neural Network Robustness to Common Corruptions and Perturbations",
    authors="D. Hendrycks, T. Dietterich", year=2019, url="https://arxiv.org/abs/1903.12261",
    key="Hendrycks2019",
)

NAMES = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
         "snow", "frost", "fog", "brightness", "contrast", "elastic", "pixelate", "jpeg")
#: the family of each corruption (as :data:`robarena_corruptions.FAMILIES`, without importing torch)
FAMILY = {**{n: "noise" for n in NAMES[:3]}, **{n: "blur" for n in NAMES[3:7]},
          **{n: "weather" for n in NAMES[7:11]}, **{n: "digital" for n in NAMES[11:]}}
#: corruptions whose output does not depend on the generator (as :data:`robarena_corruptions.DETERMINISTIC`)
DETERMINISTIC = frozenset({"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg"})


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


@hookimpl
def robarena_corruptions() -> list[CorruptionSpec]:
    return [
        CorruptionSpec(name=name, version="1", target=f"{PKG}.components:{_class_name(name)}", paper=HENDRYCKS2019,
                       family=FAMILY[name], deterministic=name in DETERMINISTIC,
                       summary=f"{name.replace('_', ' ')} ({FAMILY[name]}), severities 1..5, CIFAR-10-C parameters "
                               "with the size rule")
        for name in NAMES
    ]


@hookimpl
def robarena_suites() -> list[SuiteSpec]:
    return [
        SuiteSpec(name="corruptions-digits", version="2", target=f"{PKG}:suites/corruptions_digits.toml",
                  summary="the 15 common corruptions x 5 severities on the digits CNN, standard vs PGD-AT "
                          "(mean corruption accuracy, relative mCE against the standard row)"),
    ]


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
