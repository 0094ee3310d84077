"""deepzip's SGD loop: gradient clipping against a hand-made step."""

import pytest
import torch
from torch import nn

from deepzip.training import TrainConfig, train


@pytest.mark.parametrize("clip", [None, 1e-3, 1e3])
def test_max_grad_norm_scales_the_step_to_that_norm(clip):
    """One plain SGD step (no momentum, no decay, constant rate) on one batch: the update is the
    gradient times the rate, scaled down to ``max_grad_norm`` when its global norm is larger."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    before = [p.detach().clone() for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    norm = torch.sqrt(sum(g.square().sum() for g in grads))
    scale = 1.0 if clip is None else min(1.0, clip / (float(norm) + 1e-6))
    config = TrainConfig(
        epochs=1, lr=0.5, momentum=0.0, weight_decay=0.0, batch_size=8, schedule="constant",
        max_grad_norm=clip,
    )  # fmt: skip
    train(model, x, y, config)
    for p, p0, g in zip(model.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), p0 - 0.5 * scale * g, rtol=1e-5, atol=1e-7)


def test_bad_max_grad_norm():
    with pytest.raises(ValueError, match="max_grad_norm"):
        TrainConfig(max_grad_norm=0)


def test_adam_takes_torch_adams_first_step():
    """``optimizer="adam"``: the first step of Adam moves every parameter by the rate times the
    sign of its gradient (m / sqrt(v) = g / |g| after one step, bias-corrected), here by hand."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    before = [p.detach().clone() for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    config = TrainConfig(
        epochs=1, lr=0.01, weight_decay=0.0, batch_size=8, schedule="constant", optimizer="adam"
    )
    train(model, x, y, config)
    for p, p0, g in zip(model.parameters(), before, grads):
        step = 0.01 * g / (g.abs() + 1e-8)
        torch.testing.assert_close(p.detach(), p0 - step, rtol=1e-4, atol=1e-7)


def test_bad_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
