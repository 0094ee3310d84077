"""What the pipeline trains a model on and measures it by: the user's training and metric.

Deep Compression retrains after pruning and fine-tunes the centroids; which data, which loss and
which measure of quality are the user's. A :class:`Task` holds two callbacks, and ready-made ones
come from in-memory tensors (deepzip's own MNIST commands), from torch ``DataLoader``s, or from the
user's own functions (any loop: Lightning, DDP, a detection loss, an mIoU metric).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from deepzip.metrics import Metric, accuracy
from deepzip.training import (
    BatchCallback,
    LossFn,
    TensorData,
    TrainConfig,
    model_device,
    train,
    train_batches,
)

#: ``train(model, config, on_batch)``: train in place for ``config.epochs`` at ``config.lr``
#: (the pipeline passes the retraining and fine-tuning settings of each stage).
TrainFn = Callable[[nn.Module, TrainConfig, BatchCallback | None], None]
#: ``evaluate(model) -> float``: the metric on the evaluation split, higher is better.
EvaluateFn = Callable[[nn.Module], float]


@dataclass(frozen=True, eq=False)
class Task:
    train: TrainFn
    evaluate: EvaluateFn
    metric_name: str = "accuracy"
    example_inputs: Any = None
    """A small batch of the model's inputs (a tensor or a tuple of the forward's arguments): the
    pipeline captures the network on it to fold BatchNorm before pruning. Needed only for models
    with BatchNorm; ``from_tensors`` and ``from_loaders`` take it from the evaluation data."""
    validate: EvaluateFn | None = None
    """The metric on a validation split carved from the training data, on which choices that
    look at data are made (the budget search); ``evaluate`` is then the final measurement."""

    @classmethod
    def from_tensors(
        cls,
        data: TensorData,
        metric: Metric = accuracy,
        loss_fn: LossFn | None = None,
        metric_name: str | None = None,
    ) -> Task:
        """Train on ``data.train_*`` with deepzip's SGD loop, measure on ``data.test_*`` and
        validate on ``data.val_*`` when the data has a validation split."""
        from deepzip.training import evaluate

        def fit(model: nn.Module, config: TrainConfig, on_batch: BatchCallback | None) -> None:
            train(model, data.train_x, data.train_y, config, on_batch, loss_fn)

        def measure(model: nn.Module) -> float:
            return evaluate(model, data.test_x, data.test_y, metric=metric)

        def validate(model: nn.Module) -> float:
            return evaluate(model, data.val_x, data.val_y, metric=metric)

        name = metric_name or getattr(metric, "__name__", "metric")
        has_val = data.val_x is not None
        return cls(fit, measure, name, data.test_x[:2], validate if has_val else None)

    @classmethod
    def from_loaders(
        cls,
        train_loader: Iterable[tuple[Any, Any]],
        test_loader: Iterable[tuple[Any, Any]],
        metric: Metric = accuracy,
        loss_fn: LossFn | None = None,
        metric_name: str | None = None,
        val_loader: Iterable[tuple[Any, Any]] | None = None,
    ) -> Task:
        """Train over a ``DataLoader`` (or any re-iterable of (inputs, targets) batches) with
        deepzip's SGD loop; measure ``metric`` over all of ``test_loader``'s outputs at once,
        and over ``val_loader``'s (a validation split of the training data) to validate."""

        def fit(model: nn.Module, config: TrainConfig, on_batch: BatchCallback | None) -> None:
            if config.epochs == 0:
                return
            steps = len(train_loader) if hasattr(train_loader, "__len__") else math.inf
            train_batches(model, lambda: iter(train_loader), steps, config, on_batch, loss_fn)  # type: ignore[arg-type]

        def measure_on(loader: Iterable[tuple[Any, Any]]) -> EvaluateFn:
            @torch.no_grad()
            def measure(model: nn.Module) -> float:
                was_training = model.training
                model.eval()
                device = model_device(model)
                outputs, targets = [], []
                for inputs, target in loader:
                    outputs.append(model(inputs.to(device)).cpu())
                    targets.append(target)
                model.train(was_training)
                return metric(torch.cat(outputs), torch.cat([torch.as_tensor(t) for t in targets]))

            return measure

        first = next(iter(test_loader), None)
        example = None if first is None else first[0][:2]
        name = metric_name or getattr(metric, "__name__", "metric")
        validate = None if val_loader is None else measure_on(val_loader)
        return cls(fit, measure_on(test_loader), name, example, validate)

    @classmethod
    def from_datasets(
        cls,
        train_set: torch.utils.data.Dataset,
        test_set: torch.utils.data.Dataset,
        batch_size: int = 64,
        seed: int = 0,
        **kwargs: Any,
    ) -> Task:
        """As ``from_loaders``, over two torch ``Dataset``s (shuffled training batches)."""
        from torch.utils.data import DataLoader

        generator = torch.Generator().manual_seed(seed)
        return cls.from_loaders(
            DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator),
            DataLoader(test_set, batch_size=1000),
            **kwargs,
        )


__all__ = ["EvaluateFn", "Task", "TrainFn"]
