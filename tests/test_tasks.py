"""Raw outputs to per-pixel classes and detections, on hand-built outputs."""

import math

import numpy as np
import pytest
import torch

from deepzip.metrics import mean_average_precision, mean_iou
from deepzip.models import build_model, decode_detections
from deepzip.tasks import BoxTargets, class_weights, non_maximum_suppression, pixel_classes


def test_pixel_classes_is_the_arg_max_over_channels():
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 2, 0, 0] = 1.0  # pixel (0, 0): class 2
    logits[0, 1, 1, 1] = 5.0  # pixel (1, 1): class 1
    logits[0, 1, 0, 1] = logits[0, 2, 0, 1] = 2.0  # a tie goes to the lower class, 1
    classes = pixel_classes(logits)
    assert classes.dtype == np.int64
    np.testing.assert_array_equal(classes, [[[2, 1], [0, 1]]])
    assert mean_iou(classes, classes, 3) == 1.0


def test_segnet_output_to_mean_iou():
    model = build_model("segnet").eval()
    with torch.no_grad():
        outputs = model(torch.rand(2, 1, 64, 64))
    masks = np.zeros((2, 64, 64), dtype=np.int64)
    assert 0.0 <= mean_iou(pixel_classes(outputs), masks, 11) <= 1.0


def test_non_maximum_suppression():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 6]])
    scores = np.array([0.5, 0.9, 0.8, 0.7])
    # by score: box 1 kept; box 2 (no overlap) kept; box 3 vs box 1: overlap 9×6 = 54,
    # union 60 + 100 - 54 = 106, IoU 0.51 > 0.5 → dropped; box 0 vs box 1: 90/110 → dropped
    np.testing.assert_array_equal(non_maximum_suppression(boxes, scores, 0.5), [1, 2])
    # at 0.52, box 3 survives (0.51 ≤ 0.52); box 0 (0.82) still does not
    np.testing.assert_array_equal(non_maximum_suppression(boxes, scores, 0.52), [1, 2, 3])
    assert non_maximum_suppression(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


def test_decode_convdet_hand_built():
    # K = 2 anchors of (w, h) (10, 20) and (6, 6), C = 2 classes, a 2×2 grid on a 32×32 image:
    # cell centres at 8 and 24. Channels: class logits k·C + c (0-3), confidences K·C + k (4-5),
    # deltas K·C + K + 4k + j (6-13).
    anchors = ((10.0, 20.0), (6.0, 6.0))
    out = torch.zeros(1, 14, 2, 2)
    out[0, 4:6] = -20.0  # every anchor: confidence ≈ 0, below the score threshold
    # Cell (row 0, col 0), anchor 0: confidence logit ln 3 → 3/4; class logits (0, ln 3) →
    # probabilities (1/4, 3/4): class 1, score 3/4 · 3/4 = 0.5625. Deltas (0.1, -0.1, ln 2, 0):
    # centre (8 + 10·0.1, 8 - 20·0.1) = (9, 6), size (20, 20) → (-1, -4, 19, 16), clipped
    # to (0, 0, 19, 16).
    out[0, 4, 0, 0] = math.log(3)
    out[0, 1, 0, 0] = math.log(3)
    out[0, 6:10, 0, 0] = torch.tensor([0.1, -0.1, math.log(2), 0.0])
    # Cell (row 1, col 0), centre (8, 24), anchor 1 (6, 6): confidence 1/2, class logits
    # (ln 3, 0) → class 0 with 3/4, score 0.375. Deltas (0.5, 0, ln 2, 0): centre (11, 24),
    # size (12, 6) → (5, 21, 17, 27).
    out[0, 5, 1, 0] = 0.0
    out[0, 2, 1, 0] = math.log(3)
    out[0, 10:14, 1, 0] = torch.tensor([0.5, 0.0, math.log(2), 0.0])
    # Same cell, anchor 0 (10, 20): confidence 1/2, class logits (ln 2, 0) → class 0 with 2/3,
    # score 1/3. Deltas (0.3, 0, 0, ln 1/2): centre (11, 24), size (10, 10) → (6, 19, 16, 29).
    # Its IoU with the 0.375 box: overlap 10 × 6 = 60, union 72 + 100 - 60 = 112 → 0.54 > 0.4:
    # suppressed.
    out[0, 4, 1, 0] = 0.0
    out[0, 0, 1, 0] = math.log(2)
    out[0, 6:10, 1, 0] = torch.tensor([0.3, 0.0, 0.0, math.log(0.5)])

    (found,) = decode_detections(out, anchors, num_classes=2, image_size=(32, 32))
    np.testing.assert_allclose(found.boxes, [[0, 0, 19, 16], [5, 21, 17, 27]], atol=1e-9)
    np.testing.assert_allclose(found.scores, [0.5625, 0.375])
    np.testing.assert_array_equal(found.classes, [1, 0])
    # Without suppression the third box appears, last.
    (all_found,) = decode_detections(out, anchors, 2, (32, 32), nms_iou=1.0)
    np.testing.assert_allclose(all_found.scores, [0.5625, 0.375, 1 / 3])
    np.testing.assert_allclose(all_found.boxes[2], [6, 19, 16, 29])

    targets = [BoxTargets(np.array([[0, 0, 19, 16], [5, 21, 17, 27]]), np.array([1, 0]))]
    assert mean_average_precision([found], targets) == 1.0


def test_decode_rejects_a_wrong_layout():
    with pytest.raises(ValueError, match="channels"):
        decode_detections(torch.zeros(1, 13, 2, 2), ((1.0, 1.0),), 2, (32, 32))


def test_squeezedet_output_decodes():
    model = build_model("squeezedet").eval()
    with torch.no_grad():
        outputs = model(torch.rand(3, 1, 64, 64))
    found = decode_detections(outputs, model.anchor_shapes, model.num_classes, (64, 64), 0.0)
    assert len(found) == 3
    for boxes, scores, classes in found:
        assert boxes.shape == (len(scores), 4) and len(scores) <= 64
        assert (boxes >= 0).all() and (boxes <= 64).all()
        assert np.all(np.diff(scores) <= 0) and ((0 <= classes) & (classes < 10)).all()


def test_class_weights_by_hand():
    """Two 2x2 masks over 3 classes: class 0 has 5 of the 8 pixels, class 1 has 3 (both in
    the first image), class 2 none.

    ENet: 1 / ln(1.02 + p): p = 5/8, 3/8, 0.
    Median frequency: f0 = 5 / 8 (both images hold it), f1 = 3 / 4 (one image of 4 pixels);
    median of the present classes (5/8, 3/4) = 11/16; weights 11/10, 11/12, and 0 for class 2.
    """
    masks = np.array([[[1, 1], [1, 0]], [[0, 0], [0, 0]]])
    enet = class_weights(masks, 3, "enet")
    np.testing.assert_allclose(enet, 1 / np.log(1.02 + np.array([5 / 8, 3 / 8, 0.0])), rtol=1e-6)
    median = class_weights(torch.from_numpy(masks), 3, "median-frequency")
    np.testing.assert_allclose(median, [11 / 10, 11 / 12, 0.0], rtol=1e-6)
    assert enet.dtype == median.dtype == np.float32


def test_class_weights_refuses_bad_input():
    with pytest.raises(ValueError, match="weighting"):
        class_weights(np.zeros((1, 2, 2), np.int64), 3, "inverse")
    with pytest.raises(ValueError, match="outside"):
        class_weights(np.full((1, 2, 2), 3), 3, "enet")
    with pytest.raises(ValueError, match="masks"):
        class_weights(np.zeros((2, 2), np.int64), 3, "enet")
