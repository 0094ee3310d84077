"""Reorder hidden units so that the sparse format stores them in fewer bytes.

A hidden unit (a neuron of a linear layer, a channel of a convolution) can sit anywhere in its
layer: permuting the rows of one layer's weight, its bias, and the matching inputs (columns) of
the next layer leaves the network's function unchanged. The relative index of the file does not
see it that way. Each column is stored top to bottom, and the zeros after the last kept weight of
a column cost nothing. With the units sorted by their number of kept weights, most kept, the
top of every column is dense (small gaps), and the sparse units at the bottom mostly fall after
the last entry. On LeNet-300-100 at Deep Compression's densities this cuts the relative indices
by about a sixth (filler zeros almost vanish).

Units move only between two compressed layers (linear, conv1d, conv2d; each run once, ungrouped)
joined in the network graph by a path whose every value has one reader and is not an output, of
ops whose axis semantics are known: elementwise activations keep every axis; pooling acts on the
spatial axes of a convolution's (N, C, H, W) map; a batch_norm normalises a convolution's channels
(its statistics move with them); ``flatten(1, -1)`` of a convolution's map (or the reshape to
one per-sample dimension) makes each channel a block of H·W inputs of the next linear layer. A
linear layer reads its last axis, so it consumes a convolution's channels only after such a
flatten. conv_transpose2d, embedding and LSTM layers are left in their order.

The network's inputs (the first layer's columns) and outputs (the last layer's rows) keep their
order, so the file computes exactly what the model computed, up to the order in which a layer
sums its inputs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.graph import Graph, Node

#: Ops that act on every unit (on any axis) alone.
_ELEMENTWISE = ("relu", "relu6", "leaky_relu", "hardswish", "sigmoid", "tanh", "gelu")
#: Ops that act on the spatial axes of an (N, C, ...) map, channel by channel.
_SPATIAL = ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d")
_PRODUCERS = ("linear", "conv1d", "conv2d")
#: Per-channel tensors of a batch_norm, permuted with its channels.
_NORM_TENSORS = ("weight", "bias", "running_mean", "running_var")


@dataclasses.dataclass
class _Pair:
    producer: Node
    consumer: Node
    flattened: bool  # the producer's channels reach the consumer as blocks of a flattened map
    norms: list[str]  # batch_norm layers on the way


def _follow(graph: Graph, producer: Node, uses: Counter) -> _Pair | None:
    """The compressed layer that reads ``producer``'s units through known per-unit ops, if any."""
    consumers = graph.consumers()
    conv = producer.op != "linear"
    value, flattened, norms = producer.outputs[0], False, []
    while True:
        readers = consumers.get(value, [])
        if len(readers) != 1 or value in graph.outputs:
            return None
        node = readers[0]
        if node.op in _PRODUCERS:
            if node.op == "linear" and conv and not flattened:
                return None  # a linear layer reads the last axis, not the channels
            if node.op != "linear" and (flattened or not conv):
                return None  # a convolution reads axis 1: a flattened map or a linear's output
            return _Pair(producer, node, flattened, norms)
        if node.op in _ELEMENTWISE:
            pass
        elif (
            node.op in _SPATIAL
            and producer.op == "conv2d"
            and not flattened
            and (len(node.outputs) == 1)
        ):
            pass
        elif node.op == "batch_norm" and conv and not flattened and uses[node.layer] == 1:
            norms.append(node.layer)
        elif conv and not flattened and _flattens(node):
            flattened = True
        else:
            return None
        value = node.outputs[0]


def _flattens(node: Node) -> bool:
    """Whether ``node`` turns an (N, C, ...) map into (N, C·...) in channel-major order."""
    if node.op == "flatten":
        return node.attrs["start_dim"] == 1 and node.attrs["end_dim"] == -1
    return node.op == "reshape" and len(node.attrs["shape"]) == 1


def unit_order(layer: CompressedLayer) -> np.ndarray:
    """The layer's rows by number of kept weights, most first (ties keep their order)."""
    kept = np.count_nonzero(layer.mask.reshape(layer.weight_shape[0], -1), axis=1)
    return np.argsort(-kept, kind="stable")


def sort_units(model: CompressedModel) -> CompressedModel:
    """``model`` with the hidden units between compressed layers sorted by ``unit_order`` (see
    the module docstring for where units may move). A model without a network is returned as
    it is."""
    graph = model.network
    if graph is None:
        return model
    layers = {layer.name: layer for layer in model.layers}
    uses = Counter(node.layer for node in graph.nodes if node.layer is not None)
    rows: dict[str, np.ndarray] = {}  # layer name -> its row permutation
    columns: dict[str, tuple[np.ndarray, int]] = {}  # layer name -> (unit permutation, block)
    tensors = dict(model.tensors)
    for producer in graph.nodes:
        if producer.op not in _PRODUCERS or producer.attrs.get("groups", 1) != 1:
            continue
        a = layers.get(producer.layer)
        if a is None or uses[a.name] != 1:
            continue
        pair = _follow(graph, producer, uses)
        if pair is None or pair.consumer.attrs.get("groups", 1) != 1:
            continue
        b = layers.get(pair.consumer.layer)
        if b is None or uses[b.name] != 1 or b.name in columns:
            continue
        units, inputs = a.weight_shape[0], b.weight_shape[1]
        if pair.consumer.op == "linear":
            if inputs % units or (inputs != units and not pair.flattened):
                continue
            block = inputs // units
        else:
            if inputs != units:
                continue
            block = int(np.prod(b.weight_shape[2:]))
        order = unit_order(a)
        rows[a.name] = order
        columns[b.name] = (order, block)
        for name in [f"{a.name}.bias"] + [f"{n}.{t}" for n in pair.norms for t in _NORM_TENSORS]:
            if name in tensors:
                tensors[name] = np.ascontiguousarray(tensors[name][order])
    if not rows:
        return model
    return dataclasses.replace(
        model,
        layers=[_permuted(layer, rows, columns) for layer in model.layers],
        tensors=tensors,
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
