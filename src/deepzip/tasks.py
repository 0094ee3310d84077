"""From raw network outputs to what the metrics compare: class indices, per-pixel classes,
detections.

Segmentation networks (ENet, SegNet) give (N, C, H, W) logits; their prediction is the arg-max
class of every pixel. Detection networks give boxes with scores; per class, non-maximum
suppression keeps a box only when no better-scoring box of the same class overlaps it by more than
an IoU threshold (the usual greedy rule, as in SqueezeDet §3.2 and the VOC evaluation code).
SqueezeDet's ConvDet layout is decoded in ``deepzip.models.squeezedet.decode_detections``.

Segmentation scenes are mostly background (MNIST scenes: about 94% of the pixels), so a plain
per-pixel cross-entropy is minimised early by predicting background everywhere. The two
segmentation papers weight the loss per class (``class_weights``): ENet (Paszke et al. 2016, §4)
by ``1 / ln(c + p_class)`` with ``c = 1.02``, ``p`` the class's share of all pixels; SegNet
(Badrinarayanan et al. 2017, §4, after Eigen & Fergus 2015) by median frequency balancing,
``median(f) / f_class`` with ``f`` the class's pixels over the pixels of the images that hold it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from deepzip.metrics import box_iou

__all__ = [
    "CLASS_WEIGHTINGS",
    "BoxTargets",
    "Detections",
    "class_weights",
    "non_maximum_suppression",
    "pixel_classes",
]

#: The per-class loss weightings ``class_weights`` computes.
CLASS_WEIGHTINGS = ("enet", "median-frequency")


class Detections(NamedTuple):
    """One image's detections: boxes (m, 4) float as x1, y1, x2, y2 in pixels, scores (m,),
    classes (m,) int64."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


class BoxTargets(NamedTuple):
    """One image's ground truth: boxes (k, 4) float as x1, y1, x2, y2, classes (k,) int64."""

    boxes: np.ndarray
    classes: np.ndarray


def pixel_classes(outputs) -> np.ndarray:
    """Segmentation logits (N, C, H, W) (numpy or torch) → per-pixel classes (N, H, W) int64.

    Ties go to the lower class index (``argmax``'s rule)."""
    if hasattr(outputs, "detach"):
        outputs = outputs.detach().cpu().numpy()
    outputs = np.asarray(outputs)
    if outputs.ndim != 4:
        raise ValueError(f"expected (N, C, H, W) logits, got shape {outputs.shape}")
    return outputs.argmax(axis=1).astype(np.int64)


def non_maximum_suppression(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Indices of the boxes (m, 4) that survive greedy suppression, best score first.

    A box is dropped when a kept box with a higher score (or the same score and a lower index)
    overlaps it with IoU greater than ``iou_threshold``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(order), dtype=bool)
    overlaps = box_iou(boxes, boxes)
    for position, index in enumerate(order):
        if suppressed[position]:
            continue
        keep.append(int(index))
        suppressed[position + 1 :] |= overlaps[index, order[position + 1 :]] > iou_threshold
    return np.asarray(keep, dtype=np.int64)


def class_weights(masks, num_classes: int, weighting: str) -> np.ndarray:
    """Per-class loss weights float32 ``(num_classes,)`` from training masks ``(N, H, W)`` of
    class indices (numpy or torch), by ``weighting``: ``"enet"`` or ``"median-frequency"``
    (module docstring). A class no training pixel has gets weight 0 under median frequency
    (it has no frequency); the median is over the classes present."""
    if weighting not in CLASS_WEIGHTINGS:
        raise ValueError(f"weighting {weighting!r} is not one of {CLASS_WEIGHTINGS}")
    if hasattr(masks, "detach"):
        masks = masks.detach().cpu().numpy()
    masks = np.asarray(masks).astype(np.int64)
    if masks.ndim != 3 or masks.size == 0:
        raise ValueError(f"expected non-empty masks (N, H, W), got shape {masks.shape}")
    if masks.min() < 0 or masks.max() >= num_classes:
        raise ValueError(f"masks hold classes outside 0..{num_classes - 1}")
    counts = np.bincount(masks.ravel(), minlength=num_classes).astype(np.float64)
    if weighting == "enet":
        return (1.0 / np.log(1.02 + counts / counts.sum())).astype(np.float32)
    per_image = masks.reshape(len(masks), -1)
    holding = np.zeros(num_classes)  # images that hold each class
    for row in per_image:
        holding[np.unique(row)] += 1
    present = counts > 0
    frequency = np.zeros(num_classes)
    frequency[present] = counts[present] / (holding[present] * per_image.shape[1])
    weights = np.zeros(num_classes)
    weights[present] = np.median(frequency[present]) / frequency[present]
    return weights.astype(np.float32)
