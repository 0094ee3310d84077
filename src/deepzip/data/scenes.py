"""Segmentation and detection scenes built deterministically from real MNIST digits (issue 11).

A seeded generator places 1 to ``max_digits`` digits on a black ``canvas × canvas`` image: the
training scenes take digits from MNIST's training split only, the test scenes from its test split
only. Each digit is pasted as the crop of its *ink bounding box*, the smallest rectangle holding
every pixel of value ≥ ``ink_threshold`` (of 1.0); the faint anti-aliasing outside that box is
left out. Boxes never overlap (they may touch): each digit gets up to ``_PLACEMENT_TRIES`` uniformly
random positions, and when none is free the scene keeps the digits it has (the first always
fits, so every scene has at least one digit). Hence every ink pixel belongs to exactly one digit
and the three targets agree:

- images (N, 1, H, W) float32 in [0, 1] (pixel value / 255);
- segmentation masks (N, H, W) int64: 0 for background, digit class + 1 where a pasted pixel is
  ≥ ``ink_threshold``;
- detection targets, per scene: boxes (k, 4) float32 as x1, y1, x2, y2 in pixels with x2, y2
  exclusive (the ink box's columns x1..x2-1, rows y1..y2-1; width x2 - x1), classes (k,) int64.

The same (digits, split, count, seed, options) give the same scenes, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepzip.data.mnist import MNIST
from deepzip.tasks import BoxTargets

__all__ = ["Scenes", "make_scenes"]

_PLACEMENT_TRIES = 50
_SPLITS = ("train", "test")


@dataclass(frozen=True, eq=False)
class Scenes:
    """Scenes and their targets; ``digit_indices[i]`` are the indices, in the split's images, of
    scene i's digits (in the order of its boxes)."""

    images: np.ndarray
    masks: np.ndarray
    boxes: list[np.ndarray]
    classes: list[np.ndarray]
    digit_indices: list[np.ndarray]
    split: str

    def __len__(self) -> int:
        return len(self.images)

    def box_targets(self) -> list[BoxTargets]:
        """Per scene ``(boxes, classes)``, the targets ``deepzip.metrics`` takes."""
        return [BoxTargets(b, c) for b, c in zip(self.boxes, self.classes)]

    def __repr__(self) -> str:
        return f"Scenes(split={self.split!r}, images={self.images.shape})"


def _ink_box(digit: np.ndarray, threshold: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the pixels ≥ threshold, bottom and right exclusive."""
    rows = np.nonzero((digit >= threshold).any(axis=1))[0]
    cols = np.nonzero((digit >= threshold).any(axis=0))[0]
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def make_scenes(
    digits: MNIST,
    split: str,
    count: int,
    seed: int,
    canvas: int = 64,
    max_digits: int = 4,
    ink_threshold: float = 0.5,
) -> Scenes:
    """``count`` scenes from ``digits``' ``split`` ("train" or "test"), seeded by ``seed``."""
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if canvas < 64:
        raise ValueError(f"the canvas must be at least 64 pixels, not {canvas}")
    if max_digits < 1:
        raise ValueError(f"max_digits must be at least 1, not {max_digits}")
    if not 0.0 < ink_threshold <= 1.0:
        raise ValueError(f"ink_threshold must be in (0, 1], not {ink_threshold}")
    source_images = digits.train_images if split == "train" else digits.test_images
    source_labels = digits.train_labels if split == "train" else digits.test_labels
    threshold = int(np.ceil(ink_threshold * 255))
    # The split is part of the seed, so train and test scenes of one seed differ in layout too.
    rng = np.random.default_rng([seed, _SPLITS.index(split)])

    images = np.zeros((count, 1, canvas, canvas), dtype=np.float32)
    masks = np.zeros((count, canvas, canvas), dtype=np.int64)
    all_boxes, all_classes, all_indices = [], [], []
    for n in range(count):
        wanted = int(rng.integers(1, max_digits + 1))
        boxes: list[tuple[int, int, int, int]] = []  # x1, y1, x2, y2
        indices: list[int] = []
        for _ in range(wanted):
            index = int(rng.integers(len(source_images)))
            digit = source_images[index]
            top, left, bottom, right = _ink_box(digit, threshold)
            height, width = bottom - top, right - left
            position = None
            for _ in range(_PLACEMENT_TRIES):
                y = int(rng.integers(canvas - height + 1))
                x = int(rng.integers(canvas - width + 1))
                if all(
                    x >= bx2 or bx1 >= x + width or y >= by2 or by1 >= y + height
                    for bx1, by1, bx2, by2 in boxes
                ):
                    position = (x, y)
                    break
            if position is None:
                break
            x, y = position
            crop = digit[top:bottom, left:right]
            images[n, 0, y : y + height, x : x + width] = crop / np.float32(255)
            masks[n, y : y + height, x : x + width] = np.where(
                crop >= threshold, int(source_labels[index]) + 1, 0
            )
            boxes.append((x, y, x + width, y + height))
            indices.append(index)
        index_array = np.asarray(indices, dtype=np.int64)
        all_boxes.append(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
        all_classes.append(source_labels[index_array].astype(np.int64))
        all_indices.append(index_array)
    return Scenes(images, masks, all_boxes, all_classes, all_indices, split)
