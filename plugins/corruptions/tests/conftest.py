"""One intra-op thread inside this plugin's tests (deterministic float sums), restored afterwards:
a module-level ``torch.set_num_threads`` would change every other test of the session."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
