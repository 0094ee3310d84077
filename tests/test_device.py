"""Any device (issue 10): masks and codes live on the weight's device, and numpy is reached only
through ``.cpu()``. No GPU is available to the test suite, so this checks the CPU run of the same
code path, and that every ``.numpy()`` the compression path calls is on a tensor that went through
``.cpu()`` (on a CUDA tensor, a bare ``.numpy()`` raises)."""

import torch

from deepzip.models import lenet_5
from deepzip.network import to_compressed_model
from deepzip.prune import PruneConfig, get_mask, prune_step
from deepzip.share import QuantizeConfig, compressed_layers, get_shared, share_weights


def test_numpy_only_after_cpu(monkeypatch):
    torch.manual_seed(0)
    model = lenet_5()
    parameters = {id(t) for t in model.state_dict(keep_vars=True).values()}
    numpy, cpu = torch.Tensor.numpy, torch.Tensor.cpu
    unsafe = []

    def checked_cpu(self, *args, **kwargs):
        result = cpu(self, *args, **kwargs)
        result = result.clone() if result is self else result
        result._went_through_cpu = True
        return result

    def checked_numpy(self, *args, **kwargs):
        if not getattr(self, "_went_through_cpu", False) and self.requires_grad is False:
            # Tensors made by torch.from_numpy on host data are fine; model state is not.
            if id(self) in parameters or getattr(self, "_deepzip_model_state", False):
                unsafe.append(tuple(self.shape))
        return numpy(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", checked_cpu)
    monkeypatch.setattr(torch.Tensor, "numpy", checked_numpy)
    config = PruneConfig(sparsity=0.8, steps=2)
    prune_step(model, config, 1)
    for module in (model.conv1, model.fc1):
        get_mask(module)._deepzip_model_state = True
    prune_step(model, config, 2)
    share_weights(model, QuantizeConfig())
    for module in (model.conv1, model.fc1):
        shared = get_shared(module)
        for tensor in (shared.codes, shared.mask, shared.centroids):
            tensor._deepzip_model_state = True
    compressed_layers(model)
    to_compressed_model(model)
    assert unsafe == []


def test_state_lives_on_the_weights_device():
    torch.manual_seed(0)
    model = lenet_5()
    prune_step(model, PruneConfig(sparsity=0.5, steps=1), 1)
    share_weights(model)
    for module in (model.conv1, model.fc2):
        device = module.parametrizations["weight"].original.device
        shared = get_shared(module)
        assert shared.codes.device == shared.mask.device == shared.centroids.device == device
