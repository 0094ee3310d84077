"""Metrics that the pipeline and the commands measure a model by: ``metric(outputs, targets)``
returns one float, higher is better.

Classification uses top-1 accuracy (the number Deep Compression's tables report as 1 − error).
Tasks with their own measure (mIoU for segmentation, mAP for detection) bring a function with the
same signature; it receives the model's outputs for the whole evaluation split, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

#: ``metric(outputs, targets) -> float``, higher is better.
Metric = Callable[[Any, Any], float]


def _numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def accuracy(outputs: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1]: ``outputs`` are scores (N, classes), ``targets`` labels (N,)."""
    scores, labels = _numpy(outputs), _numpy(targets)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(
            f"accuracy needs scores (N, classes) and N labels, got {scores.shape} and "
            f"{labels.shape}"
        )
    if len(labels) == 0:
        raise ValueError("cannot measure accuracy on an empty data set")
    return float((scores.argmax(axis=1) == labels).mean())


def chance_accuracy(targets: np.ndarray | torch.Tensor) -> float:
    """The accuracy of always answering the most frequent label: what a model that learned
    nothing (or is fed inputs it was not trained on) scores."""
    labels = _numpy(targets).astype(np.int64).ravel()
    if labels.size == 0:
        return 0.0
    return float(np.bincount(labels).max() / labels.size)


METRICS: dict[str, Metric] = {"accuracy": accuracy}

__all__ = ["METRICS", "Metric", "accuracy", "chance_accuracy"]
