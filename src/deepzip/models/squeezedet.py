"""SqueezeDet (Wu et al. 2017, "SqueezeDet: Unified, Small, Low Power Fully Convolutional Neural
Networks for Real-Time Object Detection for Autonomous Driving", §3): a SqueezeNet backbone with
two extra fire modules and the ConvDet layer, a 3×3 convolution whose output at every grid cell
holds, for each of K anchors, C class scores, one confidence score and four box deltas.

ConvDet's output (N, K·(C+1+4), H', W') is laid out as in the authors' code: channels [0, K·C)
are class logits (channel k·C + c), [K·C, K·C+K) the K confidence logits, and the last K·4 the
deltas (channel K·C + K + 4k + j, j = δx, δy, δw, δh). ``decode_detections`` turns it into boxes:
anchor k of cell (i, j) is centred at ((j + ½)·W/W', (i + ½)·H/H') with the k-th anchor shape
(w, h); the box is centred at (x + w·δx, y + h·δy) with size (w·exp δw, h·exp δh) (§3.2); its
score is sigmoid(confidence) × the largest softmax class probability, that class is its label.

- ``squeezedet_published()``: the authors' released network (BichenWuUCB/squeezeDet,
  src/nets/squeezeDet.py): SqueezeNet 1.1's layout with fire10 and fire11 (squeeze 96, expand
  384 + 384), dropout, ConvDet with K = 9 anchors and KITTI's C = 3 classes, input 384×1248.
- ``squeezedet()``: a scaled SqueezeDet for (N, 1, 64, 64) digit scenes, 10 classes, K = 3
  anchors on an 8×8 grid.

``convdet_loss`` is the paper's training loss (§3.2) for ConvDet outputs and box targets.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from deepzip.metrics import box_iou
from deepzip.models.reference import ReferenceCount
from deepzip.models.squeezenet import Fire, he_init
from deepzip.tasks import Detections, non_maximum_suppression

__all__ = [
    "KITTI_ANCHOR_SHAPES",
    "SCENE_ANCHOR_SHAPES",
    "SQUEEZEDET_REFERENCE",
    "ConvDetLossWeights",
    "SqueezeDet",
    "convdet_loss",
    "decode_detections",
    "squeezedet",
    "squeezedet_published",
]

SQUEEZEDET_REFERENCE = ReferenceCount(
    1_970_000,
    10_000,
    "the paper's Table 2 (SqueezeDet: 1.97M parameters, 7.9 MB); the authors' released network"
    " (BichenWuUCB/squeezeDet, src/nets/squeezeDet.py with fire10 and fire11) has 2,082,120,"
    " which this module reproduces. The paper does not explain the 0.11M gap; its SqueezeDet+"
    " (6.93M) has a gap of the same kind: the released squeezeDetPlus.py counts 7,021,640",
)

# (width, height) in pixels of the 9 anchors the authors use for KITTI at 1248×384.
KITTI_ANCHOR_SHAPES = ((36.0, 37.0), (366.0, 174.0), (115.0, 59.0), (162.0, 87.0), (38.0, 90.0),
                       (258.0, 173.0), (224.0, 108.0), (78.0, 170.0), (72.0, 43.0))  # fmt: skip
# (width, height) of 3 anchors for MNIST digits in scenes: narrow (a "1"), medium, wide.
SCENE_ANCHOR_SHAPES = ((8.0, 20.0), (14.0, 20.0), (20.0, 20.0))


class SqueezeDet(nn.Module):
    """``features`` then dropout and ConvDet; output (N, K·(C+1+4), H', W') raw logits and
    deltas. ``anchor_shapes`` and ``num_classes`` say how to decode it."""

    def __init__(
        self,
        features: nn.Sequential,
        channels: int,
        num_classes: int,
        anchor_shapes: tuple[tuple[float, float], ...],
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.anchor_shapes = tuple(anchor_shapes)
        self.features = features
        self.dropout = nn.Dropout(dropout)
        outputs = len(self.anchor_shapes) * (num_classes + 1 + 4)
        self.convdet = nn.Conv2d(channels, outputs, kernel_size=3, padding=1)
        he_init(self, last=self.convdet)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convdet(self.dropout(self.features(x)))


def squeezedet_published(
    num_classes: int = 3,
    in_channels: int = 3,
    anchor_shapes: tuple[tuple[float, float], ...] = KITTI_ANCHOR_SHAPES,
) -> SqueezeDet:
    """The released SqueezeDet: input (N, 3, 384, 1248), output (N, 72, 23, 77)."""
    features = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(in_channels, 64, kernel_size=3, stride=2),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(3, 2),
            fire2=Fire(64, 16, 64, 64),
            fire3=Fire(128, 16, 64, 64),
            pool3=nn.MaxPool2d(3, 2),
            fire4=Fire(128, 32, 128, 128),
            fire5=Fire(256, 32, 128, 128),
            pool5=nn.MaxPool2d(3, 2),
            fire6=Fire(256, 48, 192, 192),
            fire7=Fire(384, 48, 192, 192),
            fire8=Fire(384, 64, 256, 256),
            fire9=Fire(512, 64, 256, 256),
            fire10=Fire(512, 96, 384, 384),
            fire11=Fire(768, 96, 384, 384),
        )
    )
    return SqueezeDet(features, 768, num_classes, anchor_shapes)


def squeezedet(
    num_classes: int = 10,
    in_channels: int = 1,
    anchor_shapes: tuple[tuple[float, float], ...] = SCENE_ANCHOR_SHAPES,
) -> SqueezeDet:
    """Scaled SqueezeDet for (N, 1, 64, 64) scenes: output (N, 45, 8, 8); 109,341 parameters.

    conv1 3×3×32 stride 2 (64→32), fire2-3, pool (16), fire4-5, pool (8), fire6-7, the two extra
    fire modules fire8-9, dropout, ConvDet.
    """
    features = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(in_channels, 32, kernel_size=3, stride=2, padding=1),
            relu1=nn.ReLU(),
            fire2=Fire(32, 8, 16, 16),
            fire3=Fire(32, 8, 16, 16),
            pool3=nn.MaxPool2d(2, 2),
            fire4=Fire(32, 16, 32, 32),
            fire5=Fire(64, 16, 32, 32),
            pool5=nn.MaxPool2d(2, 2),
            fire6=Fire(64, 24, 48, 48),
            fire7=Fire(96, 24, 48, 48),
            fire8=Fire(96, 24, 48, 48),
            fire9=Fire(96, 24, 48, 48),
        )
    )
    return SqueezeDet(features, 96, num_classes, anchor_shapes, dropout=0.2)


def _anchors(
    anchor_shapes: tuple[tuple[float, float], ...],
    grid: tuple[int, int],
    image_size: tuple[int, int],
    dtype: torch.dtype,
) -> torch.Tensor:
    """(H'·W'·K, 4) anchors as (centre x, centre y, w, h), ordered cell by cell (row-major),
    then anchor by anchor."""
    rows, cols = grid
    height, width = image_size
    ys = (torch.arange(rows, dtype=dtype) + 0.5) * (height / rows)
    xs = (torch.arange(cols, dtype=dtype) + 0.5) * (width / cols)
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    k = len(anchor_shapes)
    centres = torch.stack([cx, cy], -1).reshape(rows * cols, 1, 2).expand(-1, k, -1)
    shapes = torch.tensor(anchor_shapes, dtype=dtype).reshape(1, k, 2).expand(rows * cols, -1, -1)
    return torch.cat([centres, shapes], -1).reshape(-1, 4)


def _split(
    outputs: torch.Tensor, k: int, c: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ConvDet output (N, K·(C+1+4), H', W') → class logits (N, A, C), confidence logits (N, A)
    and deltas (N, A, 4), with A = H'·W'·K anchors in the order of ``_anchors``."""
    n, channels, rows, cols = outputs.shape
    if channels != k * (c + 1 + 4):
        raise ValueError(f"ConvDet output has {channels} channels, expected {k} × ({c} + 1 + 4)")
    class_logits = outputs[:, : k * c].reshape(n, k, c, rows, cols).permute(0, 3, 4, 1, 2)
    confidence = outputs[:, k * c : k * c + k].permute(0, 2, 3, 1)
    deltas = outputs[:, k * c + k :].reshape(n, k, 4, rows, cols).permute(0, 3, 4, 1, 2)
    return class_logits.reshape(n, -1, c), confidence.reshape(n, -1), deltas.reshape(n, -1, 4)


def _boxes(anchors: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """Anchors (A, 4) as centre and size, deltas (..., A, 4) → boxes (..., A, 4) as x1, y1, x2,
    y2 (§3.2). The exponent is clamped like the authors' safe_exp, so that untrained outputs
    cannot overflow."""
    cx = anchors[:, 0] + anchors[:, 2] * deltas[..., 0]
    cy = anchors[:, 1] + anchors[:, 3] * deltas[..., 1]
    w = anchors[:, 2] * torch.exp(deltas[..., 2].clamp(max=4.0))
    h = anchors[:, 3] * torch.exp(deltas[..., 3].clamp(max=4.0))
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def decode_detections(
    outputs: torch.Tensor,
    anchor_shapes: tuple[tuple[float, float], ...],
    num_classes: int,
    image_size: tuple[int, int],
    score_threshold: float = 0.05,
    nms_iou: float = 0.4,
    max_detections: int = 64,
) -> list[Detections]:
    """ConvDet output (N, K·(C+1+4), H', W') → per image ``Detections`` (boxes (m, 4) as x1, y1,
    x2, y2 in input pixels, clipped to the image; scores (m,); classes (m,) int64).

    Per image: boxes scoring at least ``score_threshold``; per class, non-maximum suppression at
    IoU ``nms_iou``; then the ``max_detections`` best, highest score first.
    """
    c = num_classes
    x = outputs.detach().to("cpu", torch.float64)
    class_logits, confidence_logits, deltas = _split(x, len(anchor_shapes), c)
    height, width = image_size
    anchors = _anchors(anchor_shapes, tuple(x.shape[2:]), image_size, torch.float64)
    boxes = _boxes(anchors, deltas)
    boxes[..., 0::2] = boxes[..., 0::2].clamp(0, width)
    boxes[..., 1::2] = boxes[..., 1::2].clamp(0, height)
    best_prob, best_class = torch.softmax(class_logits, -1).max(-1)
    scores = torch.sigmoid(confidence_logits) * best_prob

    results = []
    for i in range(x.shape[0]):
        keep = (scores[i] >= score_threshold).nonzero().flatten().numpy()
        image_boxes = boxes[i].numpy()[keep]
        image_scores = scores[i].numpy()[keep]
        image_classes = best_class[i].numpy()[keep]
        kept = []
        for cls in range(c):
            members = (image_classes == cls).nonzero()[0]
            survivors = non_maximum_suppression(
                image_boxes[members], image_scores[members], nms_iou
            )
            kept.extend(members[survivors].tolist())
        order = sorted(kept, key=lambda j: (-image_scores[j], j))[:max_detections]
        results.append(
            Detections(
                image_boxes[order].reshape(-1, 4),
                image_scores[order],
                image_classes[order].astype("int64"),
            )
        )
    return results


@dataclass(frozen=True)
class ConvDetLossWeights:
    """The loss coefficients of the authors' KITTI configuration (λ_bbox, λ_conf⁺, λ_conf⁻,
    λ_class of §3.2)."""

    bbox: float = 5.0
    confidence_positive: float = 75.0
    confidence_negative: float = 100.0
    classification: float = 1.0


def convdet_loss(
    outputs: torch.Tensor,
    targets: Sequence[tuple[np.ndarray, np.ndarray]],
    anchor_shapes: tuple[tuple[float, float], ...],
    num_classes: int,
    image_size: tuple[int, int],
    weights: ConvDetLossWeights = ConvDetLossWeights(),
) -> torch.Tensor:
    """SqueezeDet's multi-task loss (§3.2) of ConvDet outputs (N, K·(C+1+4), H', W') against
    per-image ``(boxes (k, 4) as x1, y1, x2, y2, classes (k,))``, e.g. ``Scenes.box_targets()``.

    Each ground-truth box is assigned to the anchor it overlaps most (taking the next best when
    that anchor is already assigned in the image). Over the N_obj assigned anchors of the batch:
    λ_bbox·Σ‖δ - δ̂‖² / N_obj, with δ̂ = ((x_g - x_a)/w_a, (y_g - y_a)/h_a, ln(w_g/w_a),
    ln(h_g/h_a)); λ_class·Σ cross-entropy / N_obj; and per image, λ_conf⁺·Σ(γ - IoU)² / N_obj,i
    over its assigned anchors (IoU of the predicted box with its ground truth, not
    back-propagated) plus λ_conf⁻·Σγ² / (A - N_obj,i) over the others, averaged over images.
    """
    k, c = len(anchor_shapes), num_classes
    class_logits, confidence_logits, deltas = _split(outputs, k, c)
    confidence = torch.sigmoid(confidence_logits)
    n, count = confidence.shape
    anchors = _anchors(anchor_shapes, tuple(outputs.shape[2:]), image_size, outputs.dtype)
    anchors = anchors.to(outputs.device)
    anchor_corners = _boxes(anchors, torch.zeros_like(anchors)).detach().cpu().numpy()
    predicted = _boxes(anchors, deltas.detach()).cpu().numpy()

    if len(targets) != n:
        raise ValueError(f"{len(targets)} targets for a batch of {n}")
    images, anchor_ids, classes, goals, ious = [], [], [], [], []
    for i, (boxes, labels) in enumerate(targets):
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        overlaps = box_iou(boxes, anchor_corners)  # (boxes, A)
        taken: set[int] = set()
        for g, box in enumerate(boxes):
            ranked = np.argsort(-overlaps[g], kind="stable")
            a = int(next(j for j in ranked if int(j) not in taken))
            taken.add(a)
            ax, ay, aw, ah = anchors[a].tolist()
            gx, gy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            gw, gh = box[2] - box[0], box[3] - box[1]
            images.append(i)
            anchor_ids.append(a)
            classes.append(int(labels[g]))
            goals.append([(gx - ax) / aw, (gy - ay) / ah, np.log(gw / aw), np.log(gh / ah)])
            ious.append(float(box_iou(predicted[i, a], box)[0, 0]))
    objects = max(len(images), 1)
    device, dtype = outputs.device, outputs.dtype
    image_index = torch.tensor(images, dtype=torch.int64, device=device)
    anchor_index = torch.tensor(anchor_ids, dtype=torch.int64, device=device)

    goals_tensor = torch.tensor(goals, dtype=dtype, device=device).reshape(-1, 4)
    bbox = deltas[image_index, anchor_index] - goals_tensor
    bbox_loss = bbox.square().sum() / objects
    class_loss = (
        nn.functional.cross_entropy(
            class_logits[image_index, anchor_index],
            torch.tensor(classes, dtype=torch.int64, device=device),
            reduction="sum",
        )
        / objects
    )

    positive = torch.zeros(n, count, dtype=torch.bool, device=device)
    positive[image_index, anchor_index] = True
    goal = torch.zeros(n, count, dtype=dtype, device=device)
    goal[image_index, anchor_index] = torch.tensor(ious, dtype=dtype, device=device)
    per_image = positive.sum(1, keepdim=True).to(dtype)
    scale = torch.where(
        positive,
        weights.confidence_positive / per_image.clamp(min=1),
        weights.confidence_negative / (count - per_image),
    )
    confidence_loss = (scale * (confidence - goal).square()).sum(1).mean()
    return weights.bbox * bbox_loss + weights.classification * class_loss + confidence_loss
