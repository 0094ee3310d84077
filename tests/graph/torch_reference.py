"""Run a ``Graph`` with torch itself: the reference for the shapes ``check_graph`` infers (and
for which graphs torch accepts). Each op is the torch function of ``deepzip.graph.ops``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deepzip.compressed import CompressedModel
from deepzip.graph import Graph, Node


def parameters(model: CompressedModel) -> dict[str, torch.Tensor]:
    """Every parameter by state_dict name: compressed layers' dense weights (and biases) and the
    plain tensors."""
    out = {name: torch.from_numpy(t.copy()) for name, t in model.tensors.items()}
    for layer in model.layers:
        out[f"{layer.name}.weight"] = torch.from_numpy(layer.dense_weight())
        if layer.bias is not None:
            out[f"{layer.name}.bias"] = torch.from_numpy(layer.bias.copy())
    return out


def _lstm(node: Node, p: dict, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    a = node.attrs
    first = p[f"{node.layer}.weight_ih_l0"]
    lstm = torch.nn.LSTM(
        first.shape[1],
        a["hidden_size"],
        a["num_layers"],
        bias=a["has_biases"],
        batch_first=a["batch_first"],
        bidirectional=a["bidirectional"],
    )
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            param.copy_(p[f"{node.layer}.{name}"])
    state = (inputs[1], inputs[2]) if len(inputs) == 3 else None
    out, (h, c) = lstm(inputs[0], state)
    return [out, h, c]


def run_node(node: Node, p: dict[str, torch.Tensor], xs: list[torch.Tensor]) -> list:
    a, op = node.attrs, node.op
    get = p.get
    if op == "linear":
        return [F.linear(xs[0], p[f"{node.layer}.weight"], get(f"{node.layer}.bias"))]
    if op in ("conv1d", "conv2d"):
        n = 1 if op == "conv1d" else 2
        pads = a["pads"]
        torch_pads = [v for d in reversed(range(n)) for v in (pads[d], pads[n + d])]
        conv = F.conv1d if n == 1 else F.conv2d
        x = F.pad(xs[0], torch_pads)
        return [conv(x, p[f"{node.layer}.weight"], get(f"{node.layer}.bias"), a["stride"], 0,
                     a["dilation"], a["groups"])]  # fmt: skip
    if op == "conv_transpose2d":
        return [F.conv_transpose2d(xs[0], p[f"{node.layer}.weight"], get(f"{node.layer}.bias"),
                                   a["stride"], a["padding"], a["output_padding"], a["groups"],
                                   a["dilation"])]  # fmt: skip
    if op == "embedding":
        return [F.embedding(xs[0], p[f"{node.layer}.weight"])]
    if op == "lstm":
        return _lstm(node, p, xs)
    if op == "batch_norm":
        L = node.layer
        mean, var = p[f"{L}.running_mean"], p[f"{L}.running_var"]
        weight, bias = get(f"{L}.weight"), get(f"{L}.bias")
        return [F.batch_norm(xs[0], mean, var, weight, bias, False, 0.0, a["eps"])]
    if op == "layer_norm":
        L = node.layer
        w = None if L is None else p[f"{L}.weight"]
        b = None if L is None else get(f"{L}.bias")
        return [F.layer_norm(xs[0], a["normalized_shape"], w, b, a["eps"])]
    if op == "prelu":
        return [F.prelu(xs[0], p[f"{node.layer}.weight"])]
    if op == "constant":
        return [p[node.layer]]
    if op in ("relu", "relu6", "hardswish", "sigmoid", "tanh"):
        return [getattr(F, op)(xs[0]) if op != "tanh" else torch.tanh(xs[0])]
    if op == "leaky_relu":
        return [F.leaky_relu(xs[0], a["negative_slope"])]
    if op == "gelu":
        return [F.gelu(xs[0], approximate=a["approximate"])]
    if op in ("add", "sub", "mul", "div"):
        other = xs[1] if len(xs) == 2 else a["scalar"]
        return [getattr(torch, op)(xs[0], other)]
    if op == "softmax":
        return [torch.softmax(xs[0], a["dim"])]
    if op == "matmul":
        return [torch.matmul(xs[0], xs[1])]
    if op == "mean":
        return [xs[0].mean(dim=a["dims"], keepdim=a["keepdim"])]
    if op == "max_pool2d":
        out, idx = F.max_pool2d(xs[0], a["kernel"], a["stride"], a["padding"], a["dilation"],
                                a["ceil_mode"], return_indices=True)  # fmt: skip
        return [out, idx][: len(node.outputs)]
    if op == "max_unpool2d":
        return [torch.ops.aten.max_unpool2d(xs[0], xs[1], list(a["output_size"]))]
    if op == "avg_pool2d":
        return [F.avg_pool2d(xs[0], a["kernel"], a["stride"], a["padding"], a["ceil_mode"],
                             a["count_include_pad"], a["divisor_override"] or None)]  # fmt: skip
    if op == "adaptive_avg_pool2d":
        return [F.adaptive_avg_pool2d(xs[0], a["output_size"])]
    if op == "upsample":
        corners = a["align_corners"] if a["mode"] == "bilinear" else None
        return [F.interpolate(xs[0], size=a["size"], mode=a["mode"], align_corners=corners)]
    if op == "flatten":
        return [torch.flatten(xs[0], a["start_dim"], a["end_dim"])]
    if op == "reshape":
        return [xs[0].reshape(xs[0].shape[0], *a["shape"])]
    if op == "permute":
        return [xs[0].permute(*a["dims"])]
    if op == "transpose":
        return [xs[0].transpose(a["dim0"], a["dim1"])]
    if op == "cat":
        return [torch.cat(xs, a["dim"])]
    if op == "select":
        return [xs[0].select(a["dim"], a["index"])]
    if op == "slice":
        index = [slice(None)] * xs[0].dim()
        index[a["dim"]] = slice(a["start"], a["end"], a["step"])
        return [xs[0][tuple(index)]]
    if op == "squeeze":
        return [xs[0].squeeze(a["dim"])]
    if op == "unsqueeze":
        return [xs[0].unsqueeze(a["dim"])]
    raise NotImplementedError(op)


def run_graph(graph: Graph, model: CompressedModel, batch: int = 2, seed: int = 0) -> dict:
    """Every value of ``graph`` computed by torch on a random batch (values downstream of an
    ``unsupported`` op are left out)."""
    generator = torch.Generator().manual_seed(seed)
    p = parameters(model)
    values: dict[str, torch.Tensor] = {}
    tables = [p[f"{n.layer}.weight"].shape[0] for n in graph.nodes if n.op == "embedding"]
    vocabulary = min([7, *tables])  # tokens every embedding of the graph can look up
    for graph_input in graph.inputs:
        shape = (batch, *graph_input.shape)
        if graph_input.dtype == "int64":
            values[graph_input.name] = torch.randint(0, vocabulary, shape, generator=generator)
        else:
            values[graph_input.name] = torch.randn(shape, generator=generator)
    for node in graph.nodes:
        if node.op == "unsupported" or any(v not in values for v in node.inputs):
            continue
        for name, value in zip(node.outputs, run_node(node, p, [values[v] for v in node.inputs])):
            values[name] = value
    return values
