"""From raw network outputs to what the metrics compare: class indices, per-pixel classes,
detections.

Segmentation networks (ENet, SegNet) give (N, C, H, W) logits; their prediction is the arg-max
class of every pixel. Detection networks give boxes with scores; per class, non-maximum
suppression keeps a box only when no better-scoring box of the same class overlaps it by more than
an IoU threshold (the usual greedy rule, as in SqueezeDet §3.2 and the VOC evaluation code).
SqueezeDet's ConvDet layout is decoded in ``deepzip.models.squeezedet.decode_detections``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from deepzip.metrics import box_iou

__all__ = ["BoxTargets", "Detections", "non_maximum_suppression", "pixel_classes"]


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
