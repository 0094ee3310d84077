"""Reorder hidden units so that the sparse format stores them in fewer bytes.

A hidden unit (a neuron of a linear layer, a channel of a convolution) can sit anywhere in its
layer: permuting the rows of one layer's weight, its bias, and the matching inputs (columns) of
the next layer leaves the network's function unchanged. The relative index of the file does not
see it that way. Each column is stored top to bottom, and the zeros after the last kept weight of
a column cost nothing. With the units sorted by their number of kept weights, most kept, the
top of every column is dense (small gaps), and the sparse units at the bottom mostly fall after
the last entry. On LeNet-300-100 at Deep Compression's densities this cuts the relative indices
by about a sixth (filler zeros almost vanish).

Only units between two compressed layers move: the network's inputs (the first layer's columns)
and outputs (the last layer's rows) keep their order, so the file computes exactly what the
model computed, up to the order in which a layer sums its inputs.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import numpy as np

from deepzip.compressed import CompressedLayer, CompressedModel, NetworkOp

#: Ops that act on every unit (channel) alone, so units can move through them.
_PER_UNIT_OPS = ("relu", "dropout", "maxpool2d", "avgpool2d")
_WEIGHT_OPS = ("linear", "conv2d")


def _connected_pairs(network: list[NetworkOp]) -> list[tuple[NetworkOp, NetworkOp, bool]]:
    """(producer, consumer, flattened between) for each two weight ops joined by per-unit ops."""
    pairs = []
    previous: NetworkOp | None = None
    flattened = False
    for op in network:
        if op.kind in _WEIGHT_OPS:
            if previous is not None:
                pairs.append((previous, op, flattened))
            previous, flattened = op, False
        elif op.kind == "flatten" and tuple(op.params) == (1, -1):
            flattened = True  # NCHW → (N, C·H·W): channel c becomes a block of H·W columns
        elif op.kind not in _PER_UNIT_OPS:
            previous = None
    return pairs


def _groups(op: NetworkOp) -> int:
    return op.params[6] if op.kind == "conv2d" else 1


def unit_order(layer: CompressedLayer) -> np.ndarray:
    """The layer's rows by number of kept weights, most first (ties keep their order)."""
    kept = np.count_nonzero(layer.mask.reshape(layer.weight_shape[0], -1), axis=1)
    return np.argsort(-kept, kind="stable")


def sort_units(model: CompressedModel) -> CompressedModel:
    """``model`` with the hidden units between compressed layers sorted by ``unit_order``.

    A unit moves only where its producer and its consumer are both compressed layers used once
    in the network, not grouped convolutions, joined by ReLU, dropout, pooling or a
    ``flatten(1, -1)``. A model without a network description is returned as it is.
    """
    if model.network is None:
        return model
    layers = {layer.name: layer for layer in model.layers}
    uses = Counter(op.layer for op in model.network if op.kind in _WEIGHT_OPS)
    rows: dict[str, np.ndarray] = {}  # layer name -> its row permutation
    columns: dict[str, tuple[np.ndarray, int]] = {}  # layer name -> (unit permutation, block)
    for producer, consumer, flattened in _connected_pairs(model.network):
        a, b = layers.get(producer.layer), layers.get(consumer.layer)
        if a is None or b is None or uses[a.name] > 1 or uses[b.name] > 1:
            continue
        if _groups(producer) != 1 or _groups(consumer) != 1:
            continue
        units = a.weight_shape[0]
        if consumer.kind == "conv2d":
            if flattened or b.weight_shape[1] != units:
                continue
            block = math.prod(b.weight_shape[2:])
        else:
            inputs = b.weight_shape[1]
            if inputs % units or (inputs != units and not flattened):
                continue
            block = inputs // units
        order = unit_order(a)
        rows[a.name] = order
        columns[b.name] = (order, block)
    if not rows:
        return model
    return dataclasses.replace(
        model, layers=[_permuted(layer, rows, columns) for layer in model.layers]
    )


def _permuted(
    layer: CompressedLayer,
    rows: dict[str, np.ndarray],
    columns: dict[str, tuple[np.ndarray, int]],
) -> CompressedLayer:
    if layer.name not in rows and layer.name not in columns:
        return layer
    shape = layer.weight_shape
    codes = layer.codes.reshape(shape[0], -1)
    bias = layer.bias
    if layer.name in columns:
        order, block = columns[layer.name]
        codes = codes.reshape(shape[0], len(order), block)[:, order, :].reshape(shape[0], -1)
    if layer.name in rows:
        codes = codes[rows[layer.name]]
        bias = None if bias is None else bias[rows[layer.name]].copy()
    codes = np.ascontiguousarray(codes).reshape(shape)
    return dataclasses.replace(layer, codes=codes, mask=codes != 0, bias=bias)
