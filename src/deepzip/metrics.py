"""Task metrics, each implemented once over numpy arrays: classification accuracy, segmentation
mean IoU, detection mean average precision at an IoU threshold.

- ``accuracy``: the fraction of inputs whose predicted class equals the target class.
- ``mean_iou``: per class, IoU = TP / (TP + FP + FN) with the counts summed over every pixel of
  the whole set (not averaged per image), then the mean over the classes that occur in the targets
  or the predictions (a class absent from both has no IoU and is left out, not counted as 0 or 1).
- ``mean_average_precision``: PASCAL VOC's detection measure (Everingham et al. 2010, §4.2, the
  all-point interpolation used since VOC2010). Per class, detections from all images are sorted by
  score (highest first; ties keep their input order); each is a true positive when the
  ground-truth box of its class in its image that it overlaps most has IoU at least the threshold
  and was not matched by a better-scoring detection, else a false positive (so duplicates are
  false positives, and, as in VOC's code, there is no fall-back to the second-best box). AP is
  the area under the precision-recall curve after making precision monotone (precision at
  recall r is the best precision at any recall ≥ r). The mean runs over the classes with at
  least one ground-truth box; detections of other classes do not count. Boxes are x1, y1, x2,
  y2 with continuous coordinates: a box's area is (x2 - x1)·(y2 - y1), with no VOC-style "+1".

Each is ``metric(outputs, targets) -> float`` (``mean_iou`` once its class count is bound), higher
is better: what the pipeline and the commands measure a model by (``deepzip.task.Task``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Metric",
    "accuracy",
    "average_precision",
    "box_iou",
    "chance_accuracy",
    "mean_average_precision",
    "mean_iou",
]

#: ``metric(outputs, targets) -> float``, higher is better.
Metric = Callable[[Any, Any], float]


def _numpy(values) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, on any device
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _classes(outputs: np.ndarray, target_ndim: int) -> np.ndarray:
    """Predicted classes: ``outputs`` has one more axis (classes, at axis 1) than the targets
    when it holds scores or logits, the same number when it already holds class indices."""
    if outputs.ndim == target_ndim + 1:
        return outputs.argmax(axis=1)
    if outputs.ndim == target_ndim:
        return outputs
    raise ValueError(f"outputs of shape {outputs.shape} do not fit targets with {target_ndim} axes")


def accuracy(outputs, targets) -> float:
    """Fraction of correct predictions, in [0, 1] (higher is better).

    ``outputs``: logits or scores (N, C), or predicted classes (N,); ``targets``: classes (N,).
    """
    targets = _numpy(targets)
    predicted = _classes(_numpy(outputs), targets.ndim)
    if predicted.shape != targets.shape:
        raise ValueError(f"predictions {predicted.shape} and targets {targets.shape} differ")
    if targets.size == 0:
        raise ValueError("accuracy of an empty set")
    return float(np.mean(predicted == targets))


def chance_accuracy(targets) -> float:
    """The accuracy of always answering the most frequent class: what a model that learned
    nothing (or is fed inputs it was not trained on) scores."""
    labels = _numpy(targets).astype(np.int64).ravel()
    if labels.size == 0:
        return 0.0
    return float(np.bincount(labels).max() / labels.size)


def mean_iou(outputs, targets, num_classes: int) -> float:
    """Mean intersection over union of segmentation classes over the whole set (see above).

    ``outputs``: logits (N, C, H, W) or predicted classes (N, H, W); ``targets``: (N, H, W) in
    0..num_classes-1.
    """
    targets = _numpy(targets).astype(np.int64)
    predicted = _classes(_numpy(outputs), targets.ndim).astype(np.int64)
    if predicted.shape != targets.shape:
        raise ValueError(f"predictions {predicted.shape} and targets {targets.shape} differ")
    for name, values in (("targets", targets), ("predictions", predicted)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} hold classes outside 0..{num_classes - 1}")
    # confusion[t, p] counts pixels of target class t predicted as p.
    confusion = np.bincount(
        targets.ravel() * num_classes + predicted.ravel(), minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)
    true_positive = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    present = union > 0
    if not present.any():
        raise ValueError("mean IoU of an empty set")
    return float(np.mean(true_positive[present] / union[present]))


def box_iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """IoU of every box in ``first`` (m, 4) with every box in ``second`` (n, 4): (m, n) float64.

    Boxes are x1, y1, x2, y2; an empty or degenerate pair has IoU 0."""
    a = np.asarray(first, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(second, dtype=np.float64).reshape(-1, 4)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    intersection = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, intersection / union, 0.0)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP of a precision-recall curve (points in detection order)."""
    r = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # best precision at this recall or beyond
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def mean_average_precision(
    detections: Sequence, targets: Sequence, iou_threshold: float = 0.5
) -> float:
    """VOC mAP at ``iou_threshold`` (see above), in [0, 1].

    ``detections``: per image ``(boxes (m, 4), scores (m,), classes (m,))``, e.g.
    ``deepzip.tasks.Detections``; ``targets``: per image ``(boxes (k, 4), classes (k,))``, e.g.
    ``deepzip.tasks.BoxTargets``, in the same image order.
    """
    if len(detections) != len(targets):
        raise ValueError(f"{len(detections)} images of detections, {len(targets)} of targets")
    truth = [
        (np.asarray(b, dtype=np.float64).reshape(-1, 4), _numpy(c).astype(np.int64).reshape(-1))
        for b, c in targets
    ]
    found = [
        (
            np.asarray(b, dtype=np.float64).reshape(-1, 4),
            np.asarray(s, dtype=np.float64).reshape(-1),
            _numpy(c).astype(np.int64).reshape(-1),
        )
        for b, s, c in detections
    ]
    classes = np.unique(np.concatenate([c for _, c in truth])) if truth else np.array([])
    if classes.size == 0:
        raise ValueError("mean average precision needs at least one ground-truth box")
    return float(np.mean([_class_ap(found, truth, int(c), iou_threshold) for c in classes]))


def _class_ap(found, truth, cls: int, iou_threshold: float) -> float:
    total = sum(int(np.sum(c == cls)) for _, c in truth)
    # Every detection of this class as (image, box, score), in input order.
    images, boxes, scores = [], [], []
    for image, (b, s, c) in enumerate(found):
        mine = c == cls
        images.extend([image] * int(mine.sum()))
        boxes.append(b[mine])
        scores.append(s[mine])
    if not images:
        return 0.0
    boxes_all = np.concatenate(boxes)
    order = np.argsort(-np.concatenate(scores), kind="stable")
    matched = [np.zeros(int(np.sum(c == cls)), dtype=bool) for _, c in truth]
    true_positive = np.zeros(len(order))
    for rank, d in enumerate(order):
        image = images[d]
        gt_boxes = truth[image][0][truth[image][1] == cls]
        if len(gt_boxes) == 0:
            continue
        overlaps = box_iou(boxes_all[d : d + 1], gt_boxes)[0]
        best = int(np.argmax(overlaps))
        if overlaps[best] >= iou_threshold and not matched[image][best]:
            matched[image][best] = True
            true_positive[rank] = 1.0
    hits = np.cumsum(true_positive)
    recall = hits / total
    precision = hits / np.arange(1, len(order) + 1)
    return average_precision(recall, precision)
