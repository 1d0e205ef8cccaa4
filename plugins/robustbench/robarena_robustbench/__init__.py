"""RobustBench model-zoo checkpoints in robarena (see docs/robustbench.md)."""
