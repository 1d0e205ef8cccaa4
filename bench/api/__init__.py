"""Typed base classes for plugin implementations. Importing this module imports torch.

Each base owns its component's invariants in a final ``__call__``; subclasses write
``run()`` (attacks, probes, tasks), ``fit()`` (defenses), ``load()`` (datasets) or
``extract()`` (models) and declare their parameters as a nested pydantic ``Config``.
"""
from bench.api.attack import Attack, AttackOutput
from bench.api.config import BaseConfig, TrainConfig
from bench.api.cost import Cost
from bench.api.corruption import Corruption
from bench.api.data import Dataset, DatasetSplits
from bench.api.defense import Defense, TrainContext
from bench.api.model import Classifier, WrappedClassifier
from bench.api.probe import CertifiedAccuracy, Probe, ProbeInput, ProbeResult
from bench.api.task import Task, TaskDependency, TaskInput, TaskResult

__all__ = [
    "Attack", "AttackOutput", "BaseConfig", "TrainConfig", "Dataset", "DatasetSplits",
    "Defense", "TrainContext", "Classifier", "WrappedClassifier", "Probe", "ProbeInput",
    "ProbeResult", "CertifiedAccuracy", "Task", "TaskDependency", "TaskInput", "TaskResult", "Corruption", "Cost",
]
