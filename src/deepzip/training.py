"""A plain, seeded SGD training loop and evaluation over in-memory tensors.

Deep Compression retrains after pruning and fine-tunes the shared centroids with ordinary SGD;
because compression state lives in parametrizations, this loop needs nothing special for either,
and a user's own loop works just as well. This module is the loop deepzip's own commands use.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

#: Called as ``on_batch(done, total)`` after each optimisation step.
BatchCallback = Callable[[int, int], None]
#: ``loss_fn(outputs, targets)`` -> scalar tensor; cross-entropy by default.
LossFn = Callable[[Any, Any], torch.Tensor]


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters live (inputs are moved there batch by batch)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _to(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


@dataclass(frozen=True)
class TrainConfig:
    """SGD with momentum (or Adam, ``optimizer="adam"``, as ENet's authors train it; then
    ``momentum`` is unused); ``schedule`` anneals the learning rate over all steps of the run;
    ``max_grad_norm`` clips the gradients' global norm before each step (SqueezeDet's training
    clips at 1: its confidence terms, weighted 75 and 100, otherwise throw the box deltas off)."""

    epochs: int = 15
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 64
    schedule: Literal["cosine", "constant"] = "cosine"
    seed: int = 0
    max_grad_norm: float | None = None
    optimizer: Literal["sgd", "adam"] = "sgd"

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")

    def retraining(self, epochs: int, lr_factor: float = 0.1) -> TrainConfig:
        """The config for retraining after pruning: by default 1/10 of the learning rate."""
        return replace(self, epochs=epochs, lr=self.lr * lr_factor)


def as_inputs(a: np.ndarray) -> torch.Tensor:
    """Model inputs from an array: uint8 images are scaled to [0, 1], images (N, H, W) get a
    channel axis; float arrays are taken as they are."""
    a = np.asarray(a)
    scale = 255.0 if a.dtype == np.uint8 else 1.0
    x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32) / scale)
    return x.unsqueeze(1) if x.ndim == 3 else x


#: The validation split of an MNIST-sized training set (the last 5,000 of 60,000 images).
MAX_VAL_SIZE = 5000


def default_val_size(train_size: int) -> int:
    """The default validation split: the last 10% of the training examples, at most 5,000
    (MNIST's 60,000 images give the usual 55,000 / 5,000)."""
    return min(MAX_VAL_SIZE, max(1, train_size // 10))


@dataclass(frozen=True, eq=False)
class TensorData:
    """A classification data set as tensors: images float32 (N, C, H, W) in [0, 1], labels int64.

    ``val_x``/``val_y``, when present, are the validation split carved from the training data by
    :meth:`split_validation` (``train_*`` then no longer hold it): choices that look at data are
    made on it, and the test split is kept for the final measurement.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None

    @classmethod
    def from_arrays(
        cls,
        train_images: np.ndarray,
        train_labels: np.ndarray,
        test_images: np.ndarray,
        test_labels: np.ndarray,
    ) -> TensorData:
        """From images and labels: uint8 images (N, H, W) as the IDX reader returns them are
        scaled to [0, 1] and given a channel axis; float inputs (N, C, H, W) or (N, D) are taken
        as they are."""

        def labels(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(a, dtype=np.int64))

        return cls(
            as_inputs(train_images),
            labels(train_labels),
            as_inputs(test_images),
            labels(test_labels),
        )

    def subset(self, train: int | None = None, test: int | None = None) -> TensorData:
        """The first ``train`` training and ``test`` test examples (for quick runs and tests);
        a validation split is kept as it is."""
        return replace(
            self,
            train_x=self.train_x[:train],
            train_y=self.train_y[:train],
            test_x=self.test_x[:test],
            test_y=self.test_y[:test],
        )

    def split_validation(self, size: int) -> TensorData:
        """The last ``size`` training examples as the validation split, the others as the
        training split; deterministic (no shuffling: the data should come in random order, as
        MNIST does), and the test split is untouched."""
        if self.val_x is not None:
            raise ValueError("the data already has a validation split")
        if not 0 < size < len(self.train_x):
            raise ValueError(
                f"validation size must be between 1 and {len(self.train_x) - 1} (the training "
                f"examples less one), got {size}"
            )
        cut = len(self.train_x) - size
        return replace(
            self,
            train_x=self.train_x[:cut],
            train_y=self.train_y[:cut],
            val_x=self.train_x[cut:],
            val_y=self.train_y[cut:],
        )

    def map_inputs(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> TensorData:
        """The same data with ``fn`` applied to every split's inputs (a normalization)."""
        return replace(
            self,
            train_x=fn(self.train_x),
            test_x=fn(self.test_x),
            val_x=None if self.val_x is None else fn(self.val_x),
        )


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    on_batch: BatchCallback | None = None,
    loss_fn: LossFn | None = None,
) -> float:
    """Train ``model`` in place with seeded SGD; returns the mean loss of the last epoch.

    Batches go to the model's device. Build the optimizer here, after any parametrization was
    attached: weight sharing adds the centroids as new parameters.
    """
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    if config.epochs == 0 or len(x) == 0:
        return float("nan")
    generator = torch.Generator().manual_seed(config.seed)

    def batches() -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), config.batch_size):
            batch = order[start : start + config.batch_size]
            yield x[batch], y[batch]

    steps_per_epoch = math.ceil(len(x) / config.batch_size)
    return train_batches(model, batches, steps_per_epoch, config, on_batch, loss_fn) / len(x)


def train_batches(
    model: nn.Module,
    batches: Callable[[], Iterable[tuple[Any, Any]]],
    steps_per_epoch: int,
    config: TrainConfig,
    on_batch: BatchCallback | None = None,
    loss_fn: LossFn | None = None,
) -> float:
    """The training loop over any source of batches: ``batches()`` yields one epoch of (inputs,
    targets), e.g. a torch ``DataLoader``; returns the summed loss × batch size of the last
    epoch. ``config.batch_size`` is the loader's business here."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        optimizer: torch.optim.Optimizer = torch.optim.Adam(
            params, lr=config.lr, weight_decay=config.weight_decay
        )
    else:
        optimizer = torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    total = steps_per_epoch * config.epochs
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = model_device(model)
    model.train()
    step = 0
    epoch_loss = 0.0
    for _ in range(config.epochs):
        epoch_loss = 0.0
        for inputs, targets in batches():
            if config.schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * min(step / total, 1)))
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(_to(inputs, device)), _to(targets, device))
            loss.backward()
            if config.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            epoch_loss += loss.item() * len(inputs)
            step += 1
            if on_batch is not None:
                on_batch(step, total)
    model.eval()
    return epoch_loss


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The model's outputs for all of ``x`` (on the CPU), in batches on the model's device."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    outputs = [model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outputs)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1000,
    metric: Callable[[Any, Any], float] | None = None,
) -> float:
    """``metric(outputs, y)`` of ``model`` on ``x``: top-1 accuracy in [0, 1] by default."""
    from deepzip.metrics import accuracy

    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty data set")
    return (metric or accuracy)(predict(model, x, batch_size), y)
