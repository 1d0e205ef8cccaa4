"""Helpers shared by the core tests (a tiny suite over the test plugin)."""


def tiny_suite(**overrides):
    suite = {
        "name": "tiny",
        "datasets": [{"id": "core/digits", "params": {"n_train": 300, "n_test": 60}}],
        "models": [{"id": "tiny-linear"}],
        "defenses": [{"id": "erm"}],
        "attacks": [{"id": "sign", "eps": 0.1, "params": {"steps": 3}}],
        "probes": [{"id": "confidence"}],
        "train": {"epochs": 3, "batch_size": 32, "lr": 0.1},
        "eval": {"n": 60, "batch_size": 32},
    }
    suite.update(overrides)
    return suite
