"""Folding BatchNorm into the preceding convolution or linear layer (DESIGN.md).

At inference a BatchNorm is the per-channel affine map ``y = (x - mean) * s + beta`` with
``s = gamma / sqrt(var + eps)``; after a conv or linear layer with weight ``W`` and bias ``b`` it is
the same layer with ``W' = s * W`` (per output channel) and ``b' = (b - mean) * s + beta``. Folding
it before pruning and weight sharing means the values that are pruned and shared are the ones that
run. Where the captured graph shows no such producer (the BatchNorm's input is used elsewhere too,
comes from another op, or the layer runs more than once), the BatchNorm stays and runs as a
``batch_norm`` op.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from deepzip.capture._export import capture

_FOLDABLE = {"linear": nn.Linear, "conv1d": nn.Conv1d, "conv2d": nn.Conv2d}


def _set_module(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, module)


@torch.no_grad()
def _fold(layer: nn.Module, norm: nn.modules.batchnorm._BatchNorm) -> None:
    scale = torch.rsqrt(norm.running_var + norm.eps)
    shift = -norm.running_mean * scale
    if norm.affine:
        scale = scale * norm.weight
        shift = shift * norm.weight + norm.bias
    weight = layer.weight
    weight.mul_(scale.reshape(-1, *([1] * (weight.ndim - 1))).to(weight.dtype))
    if layer.bias is None:
        layer.bias = nn.Parameter(torch.zeros(weight.shape[0], dtype=weight.dtype,
                                              device=weight.device))  # fmt: skip
    layer.bias.mul_(scale).add_(shift)


def fold_batchnorm(model: nn.Module, example_inputs: Any) -> nn.Module:
    """Fold every BatchNorm that directly follows a linear/conv1d/conv2d layer into it, in place,
    and replace the BatchNorm module with ``nn.Identity``; returns ``model``.

    A BatchNorm folds when its input is the output of such a layer and nothing else reads that
    output, the layer and the BatchNorm each run exactly once, the layer is ungrouped or grouped
    alike (per output channel either way), and, after a linear layer, the output is 2-D (the
    BatchNorm then normalises the linear layer's outputs). Call it before pruning: a layer that
    already carries a parametrization (mask, shared weights) is refused.
    """
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return model
    graph = capture(model, example_inputs).graph
    producer = graph.producer()
    consumers = graph.consumers()
    uses = Counter(node.layer for node in graph.nodes if node.layer is not None)
    shapes = _linear_output_ranks(model, example_inputs)
    folded = []
    for node in graph.nodes:
        if node.op != "batch_norm":
            continue
        source = producer.get(node.inputs[0])
        if source is None or source.op not in _FOLDABLE or uses[node.layer] != 1:
            continue
        if uses[source.layer] != 1 or len(consumers.get(node.inputs[0], [])) != 1:
            continue
        if node.inputs[0] in graph.outputs:
            continue
        layer = model.get_submodule(source.layer)
        norm = model.get_submodule(node.layer)
        if not isinstance(layer, _FOLDABLE[source.op]):
            continue
        if source.op == "linear" and shapes.get(source.layer) != 2:
            continue
        if parametrize.is_parametrized(layer):
            raise ValueError(
                f"cannot fold BatchNorm {node.layer!r} into {source.layer!r}: it is already "
                "pruned or weight-shared (fold before compressing)"
            )
        _fold(layer, norm)
        folded.append(node.layer)
    for path in folded:
        _set_module(model, path, nn.Identity())
    return model


def _linear_output_ranks(model: nn.Module, example_inputs: Any) -> dict[str, int]:
    """The rank of each Linear's output on the example inputs (a forward hook per layer)."""
    ranks: dict[str, int] = {}
    handles = [
        module.register_forward_hook(lambda m, i, out, name=name: ranks.__setitem__(name, out.ndim))
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
    ]
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(*inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return ranks
