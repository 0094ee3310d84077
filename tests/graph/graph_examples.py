"""Random networks of every op, valid by construction, with their parameters; and torch itself
running them (the independent reference that ``deepzip.graph.shapes`` is tested against).

``random_model(rng)`` grows a graph node by node: it proposes an op with attributes drawn from
the current values' shapes (sometimes at edge values), keeps it if ``check_graph`` accepts the
grown graph and drops it otherwise. The container's fuzz harness mutates these models' network
records (benchmarks/fuzz_container.py).
"""

from __future__ import annotations

import random

import numpy as np

from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.graph import Graph, GraphError, GraphInput, Node
from deepzip.graph.shapes import Value, check_graph, parameter_lookup

UNARY = ["relu", "relu6", "hardswish", "sigmoid", "tanh"]


def _edge(rng: random.Random, value: int) -> int:
    """Usually ``value``; sometimes an edge value that the checks must refuse or handle."""
    return rng.choice([0, -1, 2, 3, 1 << 40]) if rng.random() < 0.05 else value


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.inputs = [GraphInput("x", "float32", (rng.randint(1, 4), rng.randint(3, 8),
                                                   rng.randint(3, 8)))]  # fmt: skip
        if rng.random() < 0.3:
            self.inputs.append(GraphInput("tokens", "int64", (rng.randint(1, 5),)))
        self.nodes: list[Node] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.layers: list[CompressedLayer] = []
        self.values: dict[str, Value | None] = {}
        self.count = 0

    # -- parameters ------------------------------------------------------------------------------
    def tensor(self, name: str, shape: tuple[int, ...], positive: bool = False) -> None:
        values = self.np_rng().normal(size=shape).astype(np.float32)
        self.tensors[name] = np.abs(values) + 0.5 if positive else values

    def np_rng(self) -> np.random.Generator:
        return np.random.default_rng(self.rng.randrange(1 << 30))

    def weight(self, layer: str, kind: str, shape: tuple[int, ...], bias: int | None) -> None:
        """A compressed layer (half the time, for linear and conv2d) or plain tensors."""
        if kind in ("linear", "conv2d") and self.rng.random() < 0.5 and min(shape) > 0:
            codes = self.np_rng().integers(0, 4, size=shape).astype(np.uint8)
            codebook = np.array([0.0, 0.5, -0.25, 1.0], np.float32)
            own_bias = bias is not None and self.rng.random() < 0.5
            b = self.np_rng().normal(size=bias).astype(np.float32) if own_bias else None
            self.layers.append(CompressedLayer(layer, kind, codebook, codes, codes != 0, b, 2, 3))
            if bias is not None and not own_bias:
                self.tensor(f"{layer}.bias", (bias,))
            return
        self.tensor(f"{layer}.weight", shape)
        if bias is not None:
            self.tensor(f"{layer}.bias", (bias,))

    # -- growing ---------------------------------------------------------------------------------
    def lookup(self):
        layers = {layer.name: (layer.weight_shape, layer.bias is not None) for layer in self.layers}
        return parameter_lookup(layers, {k: v.shape for k, v in self.tensors.items()})

    def graph(self, outputs: tuple[str, ...] | None = None) -> Graph:
        last = self.nodes[-1].outputs[0] if self.nodes else self.inputs[0].name
        return Graph(tuple(self.inputs), tuple(self.nodes), outputs or (last,))

    def try_add(self, node: Node, params: dict | None = None) -> bool:
        saved = (dict(self.tensors), list(self.layers))
        try:
            for build in (params or {}).values():
                build()
        except (TypeError, ValueError):  # a shape with the batch (None) where a size belongs
            self.tensors, self.layers = saved
            return False
        self.nodes.append(node)
        try:
            self.values = check_graph(self.graph(), self.lookup())
            return True
        except GraphError:
            self.nodes.pop()
            self.tensors, self.layers = saved
            return False

    def fresh(self, n: int = 1) -> tuple[str, ...]:
        self.count += 1
        return tuple(f"n{self.count}_{k}" for k in range(n))

    def pick(self, ndim: int | None = None, dtype: str = "float32") -> tuple[str, Value] | None:
        known = [
            (name, v)
            for name, v in self.values.items()
            if v is not None and v.dtype == dtype and (ndim is None or len(v.shape) == ndim)
        ]
        return self.rng.choice(known) if known else None

    def propose(self) -> None:
        rng = self.rng
        op = rng.choice(list(PROPOSALS))
        PROPOSALS[op](self, rng)


def _conv2d(b: _Builder, rng: random.Random) -> None:
    found = b.pick(4)
    if found is None:
        return
    name, x = found
    channels = x.shape[1]
    groups = rng.choice([g for g in (1, 2, 3) if channels % g == 0])
    out = groups * rng.randint(1, 3)
    k = rng.randint(1, 3)
    layer = f"conv{b.count}"
    attrs = {"stride": (_edge(rng, rng.randint(1, 2)), 1), "pads": (rng.randint(0, 1), 0, 1, 0),
             "dilation": (1, rng.randint(1, 2)), "groups": _edge(rng, groups)}  # fmt: skip
    shape = (out, channels // groups, k, k)
    b.try_add(Node("conv2d", (name,), b.fresh(), layer, attrs),
              {"w": lambda: b.weight(layer, "conv2d", shape, out)})  # fmt: skip


def _conv1d(b: _Builder, rng: random.Random) -> None:
    found = b.pick(3)
    if found is None:
        return
    name, x = found
    channels, out, k = x.shape[1], rng.randint(1, 4), rng.randint(1, 3)
    layer = f"conv{b.count}"
    attrs = {"stride": (rng.randint(1, 2),), "pads": (rng.randint(0, 1), 0), "dilation": (1,),
             "groups": 1}  # fmt: skip
    b.try_add(Node("conv1d", (name,), b.fresh(), layer, attrs),
              {"w": lambda: b.weight(layer, "conv1d", (out, channels, k), out)})  # fmt: skip


def _conv_transpose(b: _Builder, rng: random.Random) -> None:
    found = b.pick(4)
    if found is None:
        return
    name, x = found
    channels, out, k, stride = x.shape[1], rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 2)
    layer = f"deconv{b.count}"
    attrs = {"stride": (stride, stride), "padding": (0, rng.randint(0, 1)),
             "output_padding": (rng.randint(0, stride - 1), 0), "dilation": (1, 1),
             "groups": 1}  # fmt: skip
    b.try_add(
        Node("conv_transpose2d", (name,), b.fresh(), layer, attrs),
        {"w": lambda: b.weight(layer, "conv_transpose2d", (channels, out, k, k), out)},
    )


def _linear(b: _Builder, rng: random.Random) -> None:
    found = b.pick()
    if found is None or not found[1].shape or found[1].shape[-1] is None:
        return
    name, x = found
    out = rng.randint(1, 6)
    layer = f"fc{b.count}"
    b.try_add(Node("linear", (name,), b.fresh(), layer, {}),
              {"w": lambda: b.weight(layer, "linear", (out, x.shape[-1]), out)})  # fmt: skip


def _embedding(b: _Builder, rng: random.Random) -> None:
    found = b.pick(dtype="int64")
    if found is None or found[0] != "tokens":  # token ids 0..6; pooling indices may be larger
        return
    layer = f"emb{b.count}"
    b.try_add(Node("embedding", (found[0],), b.fresh(), layer, {}),
              {"w": lambda: b.tensor(f"{layer}.weight", (7, rng.randint(1, 4)))})  # fmt: skip


def _lstm(b: _Builder, rng: random.Random) -> None:
    found = b.pick(3)
    if found is None or found[1].batch != 0:
        return
    name, x = found
    hidden, layers, bidirectional = rng.randint(1, 3), rng.randint(1, 2), rng.random() < 0.5
    layer = f"rnn{b.count}"
    directions = 2 if bidirectional else 1

    def weights():
        for k in range(layers):
            for s in ("", "_reverse")[:directions]:
                size = x.shape[2] if k == 0 else directions * hidden
                b.tensor(f"{layer}.weight_ih_l{k}{s}", (4 * hidden, size))
                b.tensor(f"{layer}.weight_hh_l{k}{s}", (4 * hidden, hidden))
                b.tensor(f"{layer}.bias_ih_l{k}{s}", (4 * hidden,))
                b.tensor(f"{layer}.bias_hh_l{k}{s}", (4 * hidden,))

    attrs = {"hidden_size": hidden, "num_layers": layers, "bidirectional": bidirectional,
             "batch_first": True, "has_biases": True}  # fmt: skip
    b.try_add(Node("lstm", (name,), b.fresh(3), layer, attrs), {"w": weights})


def _batch_norm(b: _Builder, rng: random.Random) -> None:
    found = b.pick(4)
    if found is None:
        return
    name, x = found
    layer, c = f"bn{b.count}", x.shape[1]

    def params():
        b.tensor(f"{layer}.running_mean", (c,))
        b.tensor(f"{layer}.running_var", (c,), positive=True)
        b.tensor(f"{layer}.weight", (c,))
        b.tensor(f"{layer}.bias", (c,))

    b.try_add(Node("batch_norm", (name,), b.fresh(), layer, {"eps": 1e-5}), {"p": params})


def _layer_norm(b: _Builder, rng: random.Random) -> None:
    found = b.pick()
    if found is None or found[1].shape[-1] is None:
        return
    name, x = found
    shape = (x.shape[-1],)
    layer = f"ln{b.count}" if rng.random() < 0.5 else None
    params = {"p": lambda: b.tensor(f"{layer}.weight", shape)} if layer else {}
    attrs = {"normalized_shape": shape, "eps": 0.5}
    b.try_add(Node("layer_norm", (name,), b.fresh(), layer, attrs), params)


def _prelu(b: _Builder, rng: random.Random) -> None:
    found = b.pick(4)
    if found is None:
        return
    layer = f"prelu{b.count}"
    size = rng.choice([1, found[1].shape[1]])
    b.try_add(Node("prelu", (found[0],), b.fresh(), layer, {}),
              {"p": lambda: b.tensor(f"{layer}.weight", (size,))})  # fmt: skip


def _constant_add(b: _Builder, rng: random.Random) -> None:
    found = b.pick()
    if found is None:
        return
    name, x = found
    shape = tuple(1 if d is None or rng.random() < 0.5 else d for d in x.shape[1:])
    layer = f"const{b.count}"
    if b.try_add(Node("constant", (), b.fresh(), layer, {}),
                 {"p": lambda: b.tensor(layer, shape)}):  # fmt: skip
        op = rng.choice(["add", "sub", "mul", "div"])
        b.try_add(Node(op, (name, b.nodes[-1].outputs[0]), b.fresh(), None, {"scalar": 0.0}))


def _unary(b: _Builder, rng: random.Random) -> None:
    found = b.pick()
    if found is None:
        return
    op = rng.choice([*UNARY, "leaky_relu", "gelu", "add", "mul", "softmax"])
    approximate = rng.choice(["none", "tanh"])  # drawn for every op, in this order
    dim = _edge(rng, rng.randint(-1, len(found[1].shape) - 1))
    attrs = {
        "leaky_relu": {"negative_slope": 0.125},
        "gelu": {"approximate": approximate},
        "add": {"scalar": 1.5},
        "mul": {"scalar": -2.0},
        "softmax": {"dim": dim},
    }.get(op, {})
    b.try_add(Node(op, (found[0],), b.fresh(), None, attrs))


def _binary(b: _Builder, rng: random.Random) -> None:
    found, other = b.pick(), b.pick()
    if found is None or other is None:
        return
    op = rng.choice(["add", "sub", "mul", "div", "matmul"])
    attrs = {} if op == "matmul" else {"scalar": 0.0}
    b.try_add(Node(op, (found[0], other[0]), b.fresh(), None, attrs))


def _pool(b: _Builder, rng: random.Random) -> None:
    found = b.pick(4)
    if found is None:
        return
    name = found[0]
    k = rng.randint(1, 3)
    common = {
        "kernel": (k, k),
        "stride": (_edge(rng, rng.randint(1, 2)), 1),
        "padding": (_edge(rng, rng.randint(0, k // 2)), 0),
        "ceil_mode": rng.random() < 0.3,
    }
    which = rng.choice(["max", "max_indices", "avg", "adaptive", "upsample"])
    if which == "avg":
        attrs = common | {"count_include_pad": rng.random() < 0.5, "divisor_override": 0}
        b.try_add(Node("avg_pool2d", (name,), b.fresh(), None, attrs))
    elif which == "adaptive":
        size = (rng.randint(1, 3), rng.randint(1, 3))
        b.try_add(Node("adaptive_avg_pool2d", (name,), b.fresh(), None, {"output_size": size}))
    elif which == "upsample":
        mode = rng.choice(["nearest", "bilinear"])
        attrs = {
            "mode": mode,
            "size": (rng.randint(1, 9), rng.randint(1, 9)),
            "scales": (0.0, 0.0),
            "align_corners": mode == "bilinear" and rng.random() < 0.5,
        }
        b.try_add(Node("upsample", (name,), b.fresh(), None, attrs))
    else:
        outputs = b.fresh(2 if which == "max_indices" else 1)
        if b.try_add(Node("max_pool2d", (name,), outputs, None, common | {"dilation": (1, 1)})):
            if which == "max_indices" and rng.random() < 0.7:
                size = tuple(b.values[name].shape[2:])
                b.try_add(Node("max_unpool2d", outputs, b.fresh(), None, {"output_size": size}))


def _shape_op(b: _Builder, rng: random.Random) -> None:
    found = b.pick() if rng.random() < 0.8 else b.pick(dtype="int64")
    if found is None:
        return
    name, x = found
    n = len(x.shape)
    op = rng.choice(["flatten", "reshape", "permute", "transpose", "cat", "select", "slice",
                     "squeeze", "unsqueeze", "mean"])  # fmt: skip
    dim = _edge(rng, rng.randint(1, max(n - 1, 1)))
    if op == "flatten":
        attrs = {"start_dim": dim, "end_dim": rng.choice([-1, dim])}
    elif op == "reshape":
        size = int(np.prod([d for d in x.shape if d is not None]))
        attrs = {"shape": rng.choice([(size,), (-1,), (1, -1), (size, 1)])}
    elif op == "permute":
        rest = list(range(1, n))
        rng.shuffle(rest)
        attrs = {"dims": (0, *rest)}
    elif op == "transpose":
        attrs = {"dim0": rng.randint(0, n - 1), "dim1": rng.randint(-n, n - 1)}
    elif op == "cat":
        b.try_add(Node("cat", (name, name), b.fresh(), None, {"dim": dim}))
        return
    elif op == "select":
        attrs = {"dim": dim, "index": rng.randint(-1, 1)}
    elif op == "slice":
        attrs = {"dim": dim, "start": rng.randint(-2, 1), "end": rng.choice([2, 1 << 62]),
                 "step": _edge(rng, rng.randint(1, 2))}  # fmt: skip
    elif op in ("squeeze", "unsqueeze"):
        attrs = {"dim": dim}
    else:
        attrs = {"dims": (dim,), "keepdim": rng.random() < 0.5}
    b.try_add(Node(op, (name,), b.fresh(), None, attrs))


def _unsupported(b: _Builder, rng: random.Random) -> None:
    found = b.pick()
    if found is None or rng.random() < 0.7:
        return
    attrs = {"target": "aten.grid_sampler_2d.default", "module": "warp"}
    b.try_add(Node("unsupported", (found[0],), b.fresh(rng.randint(1, 2)), None, attrs))


PROPOSALS = {
    "conv2d": _conv2d, "conv1d": _conv1d, "conv_transpose2d": _conv_transpose,
    "linear": _linear, "embedding": _embedding, "lstm": _lstm, "batch_norm": _batch_norm,
    "layer_norm": _layer_norm, "prelu": _prelu, "constant": _constant_add, "unary": _unary,
    "binary": _binary, "pool": _pool, "shape": _shape_op, "unsupported": _unsupported,
}  # fmt: skip


def random_model(rng: random.Random, n_nodes: int = 12, tries: int = 60) -> CompressedModel:
    """A model whose network has up to ``n_nodes`` nodes, valid for ``check_graph``; a few of
    its values (the last one and maybe others) are the graph's outputs."""
    b = _Builder(rng)
    b.values = check_graph(b.graph(), b.lookup())
    for _ in range(tries):
        if len(b.nodes) >= n_nodes:
            break
        b.propose()
    outputs = [b.graph().outputs[0]]
    if b.nodes and rng.random() < 0.5:
        outputs.append(rng.choice(b.nodes).outputs[0])
    return CompressedModel(b.layers, b.graph(tuple(outputs)), b.tensors)
