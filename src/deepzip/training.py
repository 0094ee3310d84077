"""A plain, seeded SGD training loop and evaluation over in-memory tensors.

Deep Compression retrains after pruning and fine-tunes the shared centroids with ordinary SGD;
because compression state lives in parametrizations, this loop needs nothing special for either,
and a user's own loop works just as well. This module is the loop deepzip's own commands use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
from torch import nn

#: Called as ``on_batch(done, total)`` after each optimisation step.
BatchCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainConfig:
    """SGD with momentum; ``schedule`` anneals the learning rate over all steps of the run."""

    epochs: int = 15
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 64
    schedule: Literal["cosine", "constant"] = "cosine"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")

    def retraining(self, epochs: int, lr_factor: float = 0.1) -> TrainConfig:
        """The config for retraining after pruning: by default 1/10 of the learning rate."""
        return replace(self, epochs=epochs, lr=self.lr * lr_factor)


@dataclass(frozen=True, eq=False)
class TensorData:
    """A classification data set as tensors: images float32 (N, C, H, W) in [0, 1], labels int64."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @classmethod
    def from_arrays(
        cls,
        train_images: np.ndarray,
        train_labels: np.ndarray,
        test_images: np.ndarray,
        test_labels: np.ndarray,
    ) -> TensorData:
        """From uint8 images (N, H, W) and integer labels (N,), as the IDX reader returns them."""

        def images(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32) / 255.0).unsqueeze(1)

        def labels(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(a, dtype=np.int64))

        return cls(
            images(train_images), labels(train_labels), images(test_images), labels(test_labels)
        )

    def subset(self, train: int | None = None, test: int | None = None) -> TensorData:
        """The first ``train`` training and ``test`` test examples (for quick runs and tests)."""
        return TensorData(
            self.train_x[:train], self.train_y[:train], self.test_x[:test], self.test_y[:test]
        )


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    on_batch: BatchCallback | None = None,
) -> float:
    """Train ``model`` in place with seeded SGD; returns the mean loss of the last epoch.

    Build the optimizer here, after any parametrization was attached: weight sharing adds the
    centroids as new parameters.
    """
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    if config.epochs == 0 or len(x) == 0:
        return float("nan")
    generator = torch.Generator().manual_seed(config.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    steps_per_epoch = math.ceil(len(x) / config.batch_size)
    total = steps_per_epoch * config.epochs
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    step = 0
    epoch_loss = 0.0
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        epoch_loss = 0.0
        for start in range(0, len(x), config.batch_size):
            if config.schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item() * len(batch)
            step += 1
            if on_batch is not None:
                on_batch(step, total)
    model.eval()
    return epoch_loss / len(x)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on (x, y), in [0, 1]."""
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty data set")
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        correct += int((logits.argmax(dim=1) == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / len(x)
