"""Run the model tests on one torch thread.

On a machine whose cores are busy with other work, torch's intra-op threads wait on each other:
a forward and backward of the scaled SqueezeDet took 4 s with 2 threads and 13 ms with 1 (2 cores,
load 5.7). These tests use small tensors, so one thread loses nothing when the machine is idle.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
