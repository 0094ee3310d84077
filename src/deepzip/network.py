"""From a PyTorch model to a CompressedModel and back (the torch side of the .dzip handover).

``to_compressed_model`` collects a weight-shared model's compressed layers, every other tensor its
network needs (biases, weights left uncompressed, buffers such as BatchNorm's running statistics,
constants), and, given example inputs, its network captured as a Graph (``deepzip.capture``), so
that a .dzip file can be run without the model's Python class. ``runnable_problems`` says why a
compressed model cannot run (no network, or ops outside the op table, each named with its module).

``to_torch`` is an independent executor of the stored Graph: an ``nn.Module`` that interprets each
node with ``torch.nn.functional`` on the dense dequantized weights. It is the reference that the
engine and ``deepzip decompress`` are checked against, and itself checked against the user's
original model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepzip.capture._export import capture_plain, without_parametrizations
from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.container.writer import smallest_index_bits
from deepzip.graph import Graph, Node
from deepzip.kinds import kind as layer_kind
from deepzip.reorder import sort_units
from deepzip.share.quantize import QuantizeConfig, compressed_layers

NO_NETWORK = (
    "the model has no network description (it was compressed without example inputs: pass "
    "example_inputs to to_compressed_model), so it cannot be run"
)


def _weight_key(layer: CompressedLayer) -> str:
    """The state_dict name of a compressed layer's weight: ``fc1.weight`` for a module's weight,
    the layer's own name for kinds whose parameters are named (``rnn.weight_hh_l0``)."""
    named = layer_kind(layer.kind).params(["weight"]) != ["weight"]
    return layer.name if named else f"{layer.name}.weight"


def to_compressed_model(
    model: nn.Module, config: QuantizeConfig | None = None, example_inputs: Any = None
) -> CompressedModel:
    """The weight-shared layers, remaining tensors and network of ``model``.

    With ``example_inputs`` (a tensor or a tuple of the forward's arguments; a batch of any size)
    the network is captured as a Graph; ops outside the op table become ``unsupported`` nodes
    (see ``runnable_problems``). Without, the network is None: the file then holds the layers and
    tensors only. With ``config.sort_units``, hidden units are sorted for a smaller file
    (``deepzip.reorder``).
    """
    layers = compressed_layers(model, config)
    plain = without_parametrizations(model)
    network = None
    constants: dict[str, torch.Tensor] = {}
    if example_inputs is not None:
        captured = capture_plain(plain, example_inputs)
        network, constants = captured.graph, captured.constants
    referenced = set() if network is None else {n.layer for n in network.nodes if n.layer}
    # A compressed weight that an op reads directly (a constant node) is kept as a tensor too.
    direct = set() if network is None else {n.layer for n in network.nodes if n.op == "constant"}
    skip = {_weight_key(layer) for layer in layers}
    skip |= {f"{layer.name}.bias" for layer in layers if layer.bias is not None}
    skip -= direct
    tensors: dict[str, np.ndarray] = {}
    state = plain.state_dict()
    buffers = dict(plain.named_buffers())  # non-persistent ones too, when an op reads them
    state.update(
        {name: buffers[name] for name in referenced if name not in state and name in buffers}
    )
    for key, value in {**state, **constants}.items():
        if key in skip:
            continue
        array = value.detach().cpu().numpy()
        if torch.is_floating_point(value):
            tensors[key] = array.astype(np.float32)
        elif key in referenced:  # an integer tensor an op reads (not a step count)
            tensors[key] = array.copy()
    compressed = CompressedModel(layers, network, tensors)
    if config is not None and config.sort_units:
        compressed = sort_units(compressed)
    if config is not None and config.auto_index_bits:
        compressed = replace(
            compressed,
            layers=[
                layer
                if layer.name in config.layer_index_bits
                else replace(layer, index_bits=smallest_index_bits(layer))
                for layer in compressed.layers
            ],
        )
    return compressed


def runnable_problems(model: CompressedModel) -> list[str]:
    """Why ``model`` cannot be run, one line per reason (empty when it can): no network, or each
    op outside the op table with the module it came from."""
    if model.network is None:
        return [NO_NETWORK]
    return [f"unsupported op {node.describe()}" for node in model.network.unsupported()]


def network_problems(model: nn.Module, example_inputs: Any) -> list[str]:
    """Why the network of ``model`` (before or after compression) could not be run from a .dzip
    file, one line per op outside the op table with the module it came from; empty when it can.
    The same capture as ``to_compressed_model``, so ``compress`` can say it before any training."""
    return [f"unsupported op {problem}" for problem in capture_plain(
        without_parametrizations(model), example_inputs
    ).problems]  # fmt: skip


def dense_state_dict(model: CompressedModel) -> dict[str, torch.Tensor]:
    """Dense weights by state_dict name: dequantized layers and the plain tensors."""
    state: dict[str, torch.Tensor] = {}
    for layer in model.layers:
        state[_weight_key(layer)] = torch.from_numpy(layer.dense_weight())
        if layer.bias is not None:
            state[f"{layer.name}.bias"] = torch.from_numpy(layer.bias.copy())
    for name, tensor in model.tensors.items():
        state[name] = torch.from_numpy(np.array(tensor))
    return state


# -- the executor ----------------------------------------------------------------------------------

Params = Callable[[str], "torch.Tensor | None"]


def _conv(node: Node, x: torch.Tensor, p: Params) -> torch.Tensor:
    pads, n = node.attrs["pads"], len(node.attrs["stride"])
    before, after = pads[:n], pads[n:]
    padding: Any = tuple(before)
    if tuple(before) != tuple(after):  # asymmetric ("same" with an even kernel): pad first
        x = F.pad(x, [v for pair in zip(reversed(before), reversed(after)) for v in pair])
        padding = 0
    conv = F.conv2d if n == 2 else F.conv1d
    a = node.attrs
    return conv(x, p("weight"), p("bias"), a["stride"], padding, a["dilation"], a["groups"])


def _lstm(node: Node, inputs: list[torch.Tensor], p: Params) -> tuple[torch.Tensor, ...]:
    a = node.attrs
    x = inputs[0]
    directions = 2 if a["bidirectional"] else 1
    params = []
    for k in range(a["num_layers"]):
        for suffix in ("", "_reverse")[:directions]:
            names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if a["has_biases"] else [])
            params += [p(f"{name}_l{k}{suffix}") for name in names]
    if len(inputs) == 3:
        hx = inputs[1:]
    else:
        batch = () if x.ndim == 2 else (x.shape[0 if a["batch_first"] else 1],)
        zeros = x.new_zeros(a["num_layers"] * directions, *batch, a["hidden_size"])
        hx = [zeros, zeros]
    return torch.ops.aten.lstm.input(
        x, hx, params, a["has_biases"], a["num_layers"], 0.0, False, a["bidirectional"],
        a["batch_first"],
    )  # fmt: skip


def _upsample(node: Node, x: torch.Tensor) -> torch.Tensor:
    a = node.attrs
    scales = None if a["scales"] == (0.0, 0.0) else list(a["scales"])
    size = list(a["size"]) if scales is None else None
    if a["mode"] == "nearest":
        return torch.ops.aten.upsample_nearest2d.vec(x, size, scales)
    return torch.ops.aten.upsample_bilinear2d.vec(x, size, a["align_corners"], scales)


def _binary(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def run(node: Node, xs: list[torch.Tensor], p: Params) -> torch.Tensor:
        return fn(xs[0], xs[1] if len(xs) == 2 else node.attrs["scalar"])

    return run


def _pool(node: Node, x: torch.Tensor) -> Any:
    a = node.attrs
    if node.op == "avg_pool2d":
        return F.avg_pool2d(x, a["kernel"], a["stride"], a["padding"], a["ceil_mode"],
                            a["count_include_pad"], a["divisor_override"] or None)  # fmt: skip
    return F.max_pool2d(x, a["kernel"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"],
                        return_indices=len(node.outputs) == 2)  # fmt: skip


def _one(fn: Callable[[Node, torch.Tensor, Params], Any]) -> Callable[..., Any]:
    return lambda node, xs, p: fn(node, xs[0], p)


#: op → ``run(node, inputs, params)``; ``params(name)`` gives the node's module's tensor or None.
_RUN: dict[str, Callable[[Node, list[torch.Tensor], Params], Any]] = {
    "linear": _one(lambda n, x, p: F.linear(x, p("weight"), p("bias"))),
    "conv1d": _one(_conv),
    "conv2d": _one(_conv),
    "conv_transpose2d": _one(lambda n, x, p: F.conv_transpose2d(
        x, p("weight"), p("bias"), n.attrs["stride"], n.attrs["padding"],
        n.attrs["output_padding"], n.attrs["groups"], n.attrs["dilation"])),
    "embedding": _one(lambda n, x, p: F.embedding(x, p("weight"))),
    "lstm": _lstm,
    "batch_norm": _one(lambda n, x, p: F.batch_norm(
        x, p("running_mean"), p("running_var"), p("weight"), p("bias"), False, 0.0,
        n.attrs["eps"])),
    "layer_norm": _one(lambda n, x, p: F.layer_norm(
        x, n.attrs["normalized_shape"], p("weight"), p("bias"), n.attrs["eps"])),
    "prelu": _one(lambda n, x, p: F.prelu(x, p("weight"))),
    "relu": _one(lambda n, x, p: F.relu(x)),
    "relu6": _one(lambda n, x, p: F.relu6(x)),
    "leaky_relu": _one(lambda n, x, p: F.leaky_relu(x, n.attrs["negative_slope"])),
    "hardswish": _one(lambda n, x, p: F.hardswish(x)),
    "sigmoid": _one(lambda n, x, p: torch.sigmoid(x)),
    "tanh": _one(lambda n, x, p: torch.tanh(x)),
    "gelu": _one(lambda n, x, p: F.gelu(x, approximate=n.attrs["approximate"])),
    "add": _binary(torch.add),
    "sub": _binary(torch.sub),
    "mul": _binary(torch.mul),
    "div": _binary(torch.div),
    "softmax": _one(lambda n, x, p: torch.softmax(x, n.attrs["dim"])),
    "matmul": lambda n, xs, p: torch.matmul(xs[0], xs[1]),
    "mean": _one(lambda n, x, p: torch.mean(x, n.attrs["dims"], n.attrs["keepdim"])),
    "max_pool2d": _one(lambda n, x, p: _pool(n, x)),
    "max_unpool2d": lambda n, xs, p: torch.ops.aten.max_unpool2d(
        xs[0], xs[1], list(n.attrs["output_size"])),
    "avg_pool2d": _one(lambda n, x, p: _pool(n, x)),
    "adaptive_avg_pool2d": _one(lambda n, x, p: F.adaptive_avg_pool2d(
        x, n.attrs["output_size"])),
    "upsample": _one(lambda n, x, p: _upsample(n, x)),
    "flatten": _one(lambda n, x, p: torch.flatten(x, n.attrs["start_dim"], n.attrs["end_dim"])),
    "reshape": _one(lambda n, x, p: x.reshape(x.shape[0], *n.attrs["shape"])),
    "permute": _one(lambda n, x, p: x.permute(n.attrs["dims"])),
    "transpose": _one(lambda n, x, p: x.transpose(n.attrs["dim0"], n.attrs["dim1"])),
    "cat": lambda n, xs, p: torch.cat(xs, n.attrs["dim"]),
    "select": _one(lambda n, x, p: x.select(n.attrs["dim"], n.attrs["index"])),
    "slice": _one(lambda n, x, p: torch.ops.aten.slice.Tensor(
        x, n.attrs["dim"], n.attrs["start"], n.attrs["end"], n.attrs["step"])),
    "squeeze": _one(lambda n, x, p: x.squeeze(n.attrs["dim"])),
    "unsqueeze": _one(lambda n, x, p: x.unsqueeze(n.attrs["dim"])),
}  # fmt: skip


class DenseNetwork(nn.Module):
    """Runs a stored Graph with torch ops on dense tensors (``to_torch``)."""

    def __init__(self, graph: Graph, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.graph = graph
        self._names = {name: f"t{i}" for i, name in enumerate(state)}
        for name, tensor in state.items():
            self.register_buffer(self._names[name], tensor)

    def tensor(self, name: str) -> torch.Tensor | None:
        key = self._names.get(name)
        return None if key is None else getattr(self, key)

    def forward(self, *inputs: torch.Tensor) -> Any:
        if len(inputs) != len(self.graph.inputs):
            raise ValueError(
                f"the network takes {len(self.graph.inputs)} inputs, got {len(inputs)}"
            )
        values = {spec.name: x for spec, x in zip(self.graph.inputs, inputs)}
        for node in self.graph.nodes:
            if node.op == "constant":
                out: Any = self.tensor(node.layer)
            else:
                layer = node.layer

                def params(name: str, layer: str | None = layer) -> torch.Tensor | None:
                    return None if layer is None else self.tensor(f"{layer}.{name}")

                out = _RUN[node.op](node, [values[v] for v in node.inputs], params)
            outs = tuple(out) if len(node.outputs) > 1 else (out,)
            values.update(zip(node.outputs, outs))
        results = tuple(values[v] for v in self.graph.outputs)
        return results[0] if len(results) == 1 else results


def to_torch(model: CompressedModel) -> DenseNetwork:
    """An ``nn.Module`` (in eval mode) that computes what the stored network computes, with the
    dense dequantized weights; a ValueError names what cannot be run."""
    problems = runnable_problems(model)
    if problems:
        raise ValueError("the model cannot be run: " + "; ".join(problems))
    assert model.network is not None
    return DenseNetwork(model.network, dense_state_dict(model)).eval()
