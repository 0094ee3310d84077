"""SqueezeDet's training loss on a hand-built case, and a few steps of training on scenes."""

import math

import numpy as np
import pytest
import torch

from deepzip.data.mnist import MNIST
from deepzip.data.scenes import make_scenes
from deepzip.models import build_model
from deepzip.models.squeezedet import convdet_loss


def _perfect_outputs() -> torch.Tensor:
    # K = 1 anchor (10, 10), C = 2 classes, a 2×2 grid on a 32×32 image: cell (0, 0) has its
    # centre at (8, 8). Channels: class logits 0-1, confidence 2, deltas 3-6.
    out = torch.zeros(1, 7, 2, 2, dtype=torch.float64)
    out[0, 2] = -40.0  # every anchor: confidence σ(-40) ≈ 0
    out[0, 2, 0, 0] = 40.0  # the assigned anchor: confidence ≈ 1
    out[0, 1, 0, 0] = 40.0  # class 1 with probability ≈ 1
    return out


TARGETS = [(np.array([[3.0, 3.0, 13.0, 13.0]]), np.array([1]))]  # centre (8, 8), 10×10


def test_loss_is_zero_for_a_perfect_prediction():
    loss = convdet_loss(_perfect_outputs(), TARGETS, ((10.0, 10.0),), 2, (32, 32))
    assert loss.item() == pytest.approx(0.0, abs=1e-9)


def test_loss_of_a_shifted_box():
    out = _perfect_outputs()
    out[0, 3, 0, 0] = 0.1  # δx = 0.1: the box moves 1 pixel right, to (4, 3, 14, 13)
    loss = convdet_loss(out, TARGETS, ((10.0, 10.0),), 2, (32, 32))
    # bbox: λ_bbox · 0.1² / 1 object = 5 · 0.01 = 0.05
    # confidence: the target is the IoU of (4, 3, 14, 13) with (3, 3, 13, 13) = 90 / 110 = 9/11;
    # the prediction is ≈ 1: λ_conf⁺ · (1 - 9/11)² = 75 · 4/121 = 300/121
    assert loss.item() == pytest.approx(0.05 + 300 / 121, abs=1e-6)


def test_loss_of_an_image_without_boxes_is_its_negative_confidence():
    out = torch.zeros(1, 7, 2, 2, dtype=torch.float64)  # every confidence σ(0) = 1/2
    nothing = [(np.zeros((0, 4)), np.zeros(0, dtype=np.int64))]
    # λ_conf⁻ · Σ over the 4 anchors of (1/2)² / 4 = 100 · 1/4 = 25
    loss = convdet_loss(out, nothing, ((10.0, 10.0),), 2, (32, 32))
    assert loss.item() == pytest.approx(25.0)


def test_loss_assigns_each_box_its_own_anchor():
    out = torch.zeros(1, 7, 2, 2, dtype=torch.float64, requires_grad=True)
    # Two boxes whose best anchor is the same (cell (0, 0)): the second takes the next best.
    targets = [(np.array([[3.0, 3.0, 13.0, 13.0], [4.0, 4.0, 12.0, 12.0]]), np.array([0, 1]))]
    convdet_loss(out, targets, ((10.0, 10.0),), 2, (32, 32)).backward()
    # Class logits get a gradient at assigned anchors only: cell (0, 0) and the next best,
    # cell (0, 1) (every other anchor has IoU 0 with the second box; ties go to the lower index).
    touched = out.grad[0, 0].abs() > 0
    assert touched.tolist() == [[True, True], [False, False]]


def test_a_few_steps_of_training_lower_the_loss():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = np.zeros((20, 28, 28), dtype=np.uint8)
    for i in range(20):
        images[i, 4 : 4 + rng.integers(10, 20), 6 : 6 + rng.integers(4, 16)] = 255
    labels = (np.arange(20) % 10).astype(np.uint8)
    scenes = make_scenes(MNIST(images, labels, images, labels, "boxes"), "train", 4, seed=0)
    model = build_model("squeezedet")
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.from_numpy(scenes.images)

    def loss() -> torch.Tensor:
        return convdet_loss(
            model(x), scenes.box_targets(), model.anchor_shapes, model.num_classes, (64, 64)
        )

    first = loss().item()
    for _ in range(15):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert math.isfinite(first) and loss().item() < 0.7 * first
