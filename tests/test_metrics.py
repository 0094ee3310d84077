"""Each metric against small cases worked by hand (the arithmetic is in the comments)."""

import numpy as np
import pytest
import torch

from deepzip.metrics import (
    accuracy,
    average_precision,
    box_iou,
    mean_average_precision,
    mean_iou,
)

# ---------------------------------------------------------------- accuracy


def test_accuracy_from_logits_and_from_classes():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    targets = np.array([0, 1, 1, 1])
    # arg-max: 0, 1, 0, 1 → right, right, wrong, right → 3/4
    assert accuracy(logits, targets) == 0.75
    assert accuracy(np.array([0, 1, 0, 1]), targets) == 0.75
    assert accuracy(torch.tensor(logits), torch.tensor(targets)) == 0.75


def test_accuracy_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        accuracy(np.zeros(3), np.zeros(4))


# ---------------------------------------------------------------- mean IoU


def test_mean_iou_one_image():
    targets = np.array([[[0, 0], [1, 1]]])
    predicted = np.array([[[0, 1], [1, 2]]])
    # class 0: TP 1 (top left), FP 0, FN 1 (top right predicted 1)      → 1 / 2
    # class 1: TP 1 (bottom left), FP 1 (top right), FN 1 (bottom right) → 1 / 3
    # class 2: TP 0, FP 1 (bottom right), FN 0                           → 0
    # mean over the 3 classes present: (1/2 + 1/3 + 0) / 3 = 5/18
    assert mean_iou(predicted, targets, num_classes=3) == pytest.approx(5 / 18)
    # A class in neither targets nor predictions (class 3) is left out of the mean.
    assert mean_iou(predicted, targets, num_classes=4) == pytest.approx(5 / 18)


def test_mean_iou_counts_over_the_whole_set_not_per_image():
    targets = np.array([[[0, 0], [0, 0]], [[1, 1], [1, 1]]])
    predicted = np.array([[[0, 0], [0, 0]], [[1, 0], [0, 0]]])
    # class 0: TP 4 (image 1), FP 3 (image 2), FN 0 → 4/7
    # class 1: TP 1, FP 0, FN 3                     → 1/4
    # mean: (4/7 + 1/4) / 2 = (16/28 + 7/28) / 2 = 23/56
    assert mean_iou(predicted, targets, 2) == pytest.approx(23 / 56)
    # The same from logits (N, C, H, W): class 1 wins where predicted is 1.
    logits = np.stack([predicted == 0, predicted == 1], axis=1).astype(np.float32)
    assert mean_iou(logits, targets, 2) == pytest.approx(23 / 56)


def test_mean_iou_rejects_classes_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        mean_iou(np.array([[[5]]]), np.array([[[0]]]), 2)


# ---------------------------------------------------------------- boxes and AP


def test_box_iou():
    a = np.array([[0, 0, 2, 2]])
    b = np.array([[1, 1, 3, 3], [2, 2, 4, 4], [0, 0, 2, 2], [5, 5, 5, 6]])
    # overlap 1×1 = 1, union 4 + 4 - 1 = 7; touching corner: 0; identical: 1; empty box: 0
    np.testing.assert_allclose(box_iou(a, b), [[1 / 7, 0.0, 1.0, 0.0]])


def test_average_precision_all_point_interpolation():
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: the monotone envelope is 1 up to recall 1/2,
    # then 2/3: AP = 1/2 · 1 + 1/2 · 2/3 = 5/6
    assert average_precision([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3]) == pytest.approx(5 / 6)


def test_mean_average_precision_two_classes():
    targets = [
        (np.array([[0, 0, 10, 10], [40, 40, 50, 50]]), np.array([0, 1])),  # image 0
        (np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.array([0, 0])),  # image 1
    ]
    detections = [
        (  # image 0
            np.array([[0, 0, 10, 10], [0, 0, 5, 5], [40, 40, 50, 50], [0, 0, 10, 10]]),
            np.array([0.9, 0.9, 0.4, 0.3]),
            np.array([0, 1, 1, 2]),  # class 2 has no ground truth: ignored
        ),
        (  # image 1
            np.array([[0, 0, 10, 9], [0, 0, 10, 10], [50, 50, 60, 60], [21, 20, 31, 30]]),
            np.array([0.8, 0.7, 0.6, 0.5]),
            np.array([0, 0, 0, 0]),
        ),
    ]
    # Class 0, 3 ground-truth boxes. By score:
    #   0.9 image 0 (0,0,10,10): IoU 1 with its box              → TP
    #   0.8 image 1 (0,0,10,9):  IoU 90/100 = 0.9                → TP
    #   0.7 image 1 (0,0,10,10): best box already matched        → FP (duplicate)
    #   0.6 image 1 (50,50,60,60): no overlap                    → FP
    #   0.5 image 1 (21,20,31,30): IoU 90/110 = 0.82             → TP
    # precision 1, 1, 2/3, 1/2, 3/5 at recall 1/3, 2/3, 2/3, 2/3, 1; envelope 1, 1, 3/5, 3/5, 3/5
    # AP = 1/3 · 1 + 1/3 · 1 + 1/3 · 3/5 = 13/15
    # Class 1, 1 box. 0.9 (0,0,5,5): FP; 0.4 (40,40,50,50): TP. precision 0, 1/2 at recall 0, 1;
    # envelope 1/2 → AP = 1/2.
    # mAP = (13/15 + 1/2) / 2 = 41/60
    assert mean_average_precision(detections, targets) == pytest.approx(41 / 60)


def test_map_threshold_is_inclusive():
    targets = [(np.array([[0, 0, 10, 10]]), np.array([3]))]
    detections = [(np.array([[0, 0, 10, 5]]), np.array([0.5]), np.array([3]))]
    # IoU = 50 / 100 = 0.5: a hit at 0.5, a miss at 0.6
    assert mean_average_precision(detections, targets, 0.5) == 1.0
    assert mean_average_precision(detections, targets, 0.6) == 0.0


def test_map_with_no_detections_is_zero():
    targets = [(np.array([[0, 0, 10, 10]]), np.array([0]))]
    empty = (np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64))
    assert mean_average_precision([empty], targets) == 0.0


def test_map_needs_ground_truth_and_matching_image_counts():
    empty_target = (np.zeros((0, 4)), np.zeros(0, dtype=np.int64))
    empty = (np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match="ground-truth"):
        mean_average_precision([empty], [empty_target])
    with pytest.raises(ValueError, match="images"):
        mean_average_precision([empty, empty], [empty_target])
