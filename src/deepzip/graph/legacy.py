"""Version-1 network records (a forward list of ops) as graphs.

A version-1 .dzip file describes an ``nn.Sequential`` network as a list of ops with integer
params and no input shape; this module turns such a list into the ``Graph`` that version 2 stores,
so the engine and every other reader only know graphs. ``dropout`` disappears (the identity at
inference).
"""

from __future__ import annotations

from deepzip.graph.ir import Graph, GraphError, GraphInput, Node

#: Version-1 op kinds in file order (their byte is the index), and their integer param counts.
V1_KINDS = ("linear", "conv2d", "relu", "maxpool2d", "avgpool2d", "flatten", "dropout")
V1_PARAM_COUNTS = {"conv2d": 7, "maxpool2d": 6, "avgpool2d": 6, "flatten": 2}


def _node(kind: str, layer: str | None, params: tuple[int, ...]) -> tuple[str, str | None, dict]:
    if kind == "conv2d":
        sh, sw, ph, pw, dh, dw, groups = params
        attrs = {"stride": (sh, sw), "pads": (ph, pw, ph, pw), "dilation": (dh, dw),
                 "groups": groups}  # fmt: skip
        return "conv2d", layer, attrs
    if kind in ("maxpool2d", "avgpool2d"):
        kh, kw, sh, sw, ph, pw = params
        attrs = {"kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw), "ceil_mode": False}
        if kind == "maxpool2d":
            return "max_pool2d", None, {**attrs, "dilation": (1, 1)}
        extra = {"count_include_pad": True, "divisor_override": 0}
        return "avg_pool2d", None, {**attrs, **extra}
    if kind == "flatten":
        return "flatten", None, {"start_dim": params[0], "end_dim": params[1]}
    return kind, layer, {}


def graph_from_v1(ops: list[tuple[str, str | None, tuple[int, ...]]]) -> Graph:
    """The graph of a version-1 op list ``(kind, layer, params)``; its input shape is unknown
    (``GraphInput.shape`` None)."""
    nodes = []
    value = "v0"
    for kind, layer, params in ops:
        if kind not in V1_KINDS:
            raise GraphError(f"unknown version-1 op {kind!r}")
        if len(params) != V1_PARAM_COUNTS.get(kind, 0):
            raise GraphError(f"a version-1 {kind} op takes {V1_PARAM_COUNTS.get(kind, 0)} params")
        if kind == "dropout":
            continue
        op, op_layer, attrs = _node(kind, layer, tuple(int(p) for p in params))
        out = f"v{len(nodes) + 1}"
        nodes.append(Node(op, (value,), (out,), op_layer, attrs))
        value = out
    return Graph((GraphInput("v0", "float32", None),), tuple(nodes), (value,))
