"""The network record of a .dzip file (docs/FORMAT.md, "Network record").

Version 2 stores the network as a graph (``deepzip.graph.Graph``): the inputs (dtype and
per-sample shape), then every node as its op's code in ``deepzip.graph.ops.OPS``, its layer, its
inputs as positions of values in definition order (the graph's inputs first, then each node's
outputs), its output count where the op table lets it vary, and its attributes in the op table's
order; then the graph's outputs. Value names are not stored: a graph read back names its values
``v0, v1, ...`` (``Graph.canonical``).

Version 1 stored a list of ops (an ``nn.Sequential``); it is read here and converted with
``deepzip.graph.legacy.graph_from_v1``.

The encoder works on ``RawNode`` records, not on a ``Graph``, so that the fuzz harness can write
networks that break every rule (forward references, unknown codes, wrong counts) and check that the
reader refuses them. Parsing raises ``FormatError`` subclasses only (errors.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Protocol

from deepzip.container import layout
from deepzip.container.errors import FieldValueError, LimitExceededError
from deepzip.graph import INPUT_DTYPES, OPS_BY_CODE, Graph, GraphError, GraphInput, Node
from deepzip.graph.legacy import V1_KINDS, V1_PARAM_COUNTS, graph_from_v1

UNKNOWN_SHAPE = 0xFF
"""The ndim byte of an input whose shape is unknown (a network converted from version 1)."""


class Cursor(Protocol):
    """What the parser's cursor offers (``parser._Cursor``)."""

    pos: int

    def take(self, n: int, field: str) -> memoryview: ...
    def u8(self, field: str) -> int: ...
    def varint(self, field: str, max_bytes: int = ...) -> int: ...
    def count(self, field: str, maximum: int) -> int: ...
    def name(self, field: str) -> str: ...


@dataclass
class RawNode:
    """A node as the file holds it: op code, layer, input positions, output count, and the
    attribute values as ``(type, value)`` pairs in file order."""

    code: int
    layer: str | None
    inputs: list[int]
    n_outputs: int
    attrs: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class RawNetwork:
    inputs: list[tuple[int, tuple[int, ...] | None]]  # (dtype code, per-sample shape or None)
    nodes: list[RawNode]
    outputs: list[int]


# --- writing --------------------------------------------------------------------------------------


def raw_network(graph: Graph) -> RawNetwork:
    """The graph as file records (value names become positions in definition order)."""
    position: dict[str, int] = {}
    inputs = []
    for graph_input in graph.inputs:
        position[graph_input.name] = len(position)
        shape = None if graph_input.shape is None else tuple(graph_input.shape)
        inputs.append((INPUT_DTYPES.index(graph_input.dtype), shape))
    nodes = []
    for node in graph.nodes:
        spec = node.spec
        raw_inputs = [position[v] for v in node.inputs]
        for value in node.outputs:
            position[value] = len(position)
        attrs = [(kind, node.attrs[name]) for name, kind in spec.attrs]
        nodes.append(RawNode(spec.code, node.layer, raw_inputs, len(node.outputs), attrs))
    if len(position) > layout.MAX_VALUES:
        raise ValueError(f"the network has {len(position)} values, more than {layout.MAX_VALUES}")
    return RawNetwork(inputs, nodes, [position[v] for v in graph.outputs])


def _name(text: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what}: expected a str, got {type(text).__name__}")
    encoded = text.encode("utf-8")
    if len(encoded) > layout.MAX_NAME_BYTES:
        raise ValueError(f"{what}: {len(encoded)} bytes, more than {layout.MAX_NAME_BYTES}")
    return layout.varint(len(encoded)) + encoded


def _svarint(value: int, what: str) -> bytes:
    if not layout.MIN_INT64 <= value <= layout.MAX_INT64:
        raise ValueError(f"{what}: {value} is not an int64")
    return layout.varint(layout.zigzag(value), layout.VARINT64_MAX_BYTES)


def _f32(value: float, what: str) -> bytes:
    try:
        return struct.pack("<f", value)
    except OverflowError:
        raise ValueError(f"{what}: {value} does not fit a float32") from None


def _attr_bytes(kind: str, value: Any, what: str) -> bytes:
    if kind == "int":
        return _svarint(value, what)
    if kind == "float":
        return _f32(value, what)
    if kind == "bool":
        return bytes([int(bool(value))])
    if kind == "str":
        return _name(value, what)
    if len(value) > layout.MAX_ATTR_ITEMS:
        raise ValueError(f"{what}: {len(value)} items, more than {layout.MAX_ATTR_ITEMS}")
    item = _svarint if kind == "ints" else _f32
    return layout.varint(len(value)) + b"".join(item(v, what) for v in value)


def network_bytes(network: RawNetwork) -> bytes:
    """The version-2 network record. Checks only what the encoding itself needs (ranges of
    numbers, lengths of names and lists); the fuzz harness uses it to write broken graphs."""
    if len(network.nodes) > layout.MAX_OPS:
        raise ValueError(f"the network has {len(network.nodes)} nodes, more than {layout.MAX_OPS}")
    if len(network.inputs) > layout.MAX_GRAPH_INPUTS:
        raise ValueError(f"the network has more than {layout.MAX_GRAPH_INPUTS} inputs")
    out = bytearray(layout.varint(len(network.inputs)))
    for j, (dtype, shape) in enumerate(network.inputs):
        out.append(dtype)
        if shape is None:
            out.append(UNKNOWN_SHAPE)
            continue
        if len(shape) > layout.MAX_INPUT_NDIM or any(d > layout.MAX_DIM for d in shape):
            raise ValueError(f"network input {j}: shape {shape} exceeds the format's limits")
        out.append(len(shape))
        for dim in shape:
            out += layout.varint(dim)
    out += layout.varint(len(network.nodes))
    for i, node in enumerate(network.nodes):
        what = f"network node {i}"
        out.append(node.code)
        spec = OPS_BY_CODE.get(node.code)
        if spec is not None and spec.layer == "optional":
            out.append(int(node.layer is not None))
        if spec is not None and spec.layer != "none" and node.layer is not None:
            out += _name(node.layer, f"{what} ({spec.name}): layer")
        if spec is None or spec.inputs[0] != spec.inputs[1]:
            out += layout.varint(len(node.inputs))
        for position in node.inputs:
            out += layout.varint(position)
        if spec is None or spec.outputs[0] != spec.outputs[1]:
            out += layout.varint(node.n_outputs)
        names = spec.attr_names() if spec is not None else ("?",) * len(node.attrs)
        for name, (kind, value) in zip(names, node.attrs):
            out += _attr_bytes(kind, value, f"{what}: attribute {name!r}")
    out += layout.varint(len(network.outputs))
    for position in network.outputs:
        out += layout.varint(position)
    return bytes(out)


def v1_network_bytes(ops: list[tuple[str, str | None, tuple[int, ...]]]) -> bytes:
    """A version-1 network record (for tests of the reader's conversion)."""
    out = bytearray(layout.varint(len(ops)))
    for kind, layer, params in ops:
        out.append(V1_KINDS.index(kind))
        if kind in layout.V1_OPS_WITH_LAYER:
            out += _name(layer, kind)
        for value in params:
            out += layout.varint(layout.zigzag(value))
    return bytes(out)


# --- reading --------------------------------------------------------------------------------------


def parse_v1(cursor: Cursor) -> list[tuple[str, str | None, tuple[int, ...]]]:
    """A version-1 op list ``(kind, layer, params)``."""
    n_ops = cursor.count("network.op_count", layout.MAX_OPS)
    ops = []
    for j in range(n_ops):
        p = f"network.ops[{j}]"
        code = cursor.u8(f"{p}.kind")
        if code >= len(V1_KINDS):
            raise FieldValueError(f"{p}.kind", f"expected 0..{len(V1_KINDS) - 1}, got {code}")
        kind = V1_KINDS[code]
        layer = cursor.name(f"{p}.layer") if kind in layout.V1_OPS_WITH_LAYER else None
        params = []
        for k in range(V1_PARAM_COUNTS.get(kind, 0)):
            value = layout.unzigzag(cursor.varint(f"{p}.params[{k}]"))
            if not layout.MIN_PARAM <= value <= layout.MAX_PARAM:
                raise FieldValueError(
                    f"{p}.params[{k}]",
                    f"expected {layout.MIN_PARAM}..{layout.MAX_PARAM}, got {value}",
                )
            params.append(value)
        ops.append((kind, layer, tuple(params)))
    return ops


def graph_of_v1(ops: list[tuple[str, str | None, tuple[int, ...]]]) -> Graph:
    try:
        return graph_from_v1(ops)
    except GraphError as error:  # the parser checked kinds and counts; keep the family closed
        raise FieldValueError("network", str(error)) from None


def _int64(cursor: Cursor, field: str) -> int:
    value = cursor.varint(field, layout.VARINT64_MAX_BYTES)
    if value >= 1 << 64:
        raise FieldValueError(field, f"expected a zigzag int64 below 2**64, got {value}")
    return layout.unzigzag(value)


def _f32_value(cursor: Cursor, field: str) -> float:
    return struct.unpack("<f", cursor.take(4, field))[0]


def _attr(cursor: Cursor, kind: str, field: str) -> Any:
    if kind == "int":
        return _int64(cursor, field)
    if kind == "float":
        return _f32_value(cursor, field)
    if kind == "bool":
        value = cursor.u8(field)
        if value > 1:
            raise FieldValueError(field, f"expected 0 or 1, got {value}")
        return bool(value)
    if kind == "str":
        return cursor.name(field)
    n = cursor.count(f"{field}.count", layout.MAX_ATTR_ITEMS)
    item = _int64 if kind == "ints" else _f32_value
    return tuple(item(cursor, f"{field}[{k}]") for k in range(n))


def _position(cursor: Cursor, field: str, defined: int) -> int:
    position = cursor.varint(field)
    if position >= defined:
        raise FieldValueError(
            field,
            f"expected a value defined before it (0..{defined - 1}), got {position}",
        )
    return position


def _arity(cursor: Cursor, field: str, bounds: tuple[int, int], what: str) -> int:
    low, high = bounds
    if low == high:
        return low
    n = cursor.varint(field)
    if not low <= n <= high:
        raise FieldValueError(field, f"expected {low}..{high} {what}, got {n}")
    return n


def parse_v2(cursor: Cursor) -> Graph:
    """The version-2 network record as a graph whose values are named ``v0, v1, ...``."""
    n_inputs = cursor.count("network.input_count", layout.MAX_GRAPH_INPUTS)
    if n_inputs == 0:
        raise FieldValueError("network.input_count", "expected at least 1 input, got 0")
    inputs = []
    for j in range(n_inputs):
        p = f"network.inputs[{j}]"
        code = cursor.u8(f"{p}.dtype")
        if code >= len(INPUT_DTYPES):
            raise FieldValueError(f"{p}.dtype", f"expected 0..{len(INPUT_DTYPES) - 1}, got {code}")
        ndim = cursor.u8(f"{p}.ndim")
        shape = None
        if ndim != UNKNOWN_SHAPE:
            if ndim > layout.MAX_INPUT_NDIM:
                raise LimitExceededError(
                    f"{p}.ndim", f"expected <= {layout.MAX_INPUT_NDIM} or 255, got {ndim}"
                )
            shape = tuple(cursor.varint(f"{p}.shape[{d}]") for d in range(ndim))
            if any(d > layout.MAX_DIM for d in shape) or (
                layout.dense_extent(shape) > layout.MAX_TENSOR_ELEMENTS
            ):
                raise LimitExceededError(f"{p}.shape", f"shape {shape} exceeds the limits")
        inputs.append(GraphInput(f"v{j}", INPUT_DTYPES[code], shape))

    n_nodes = cursor.count("network.node_count", layout.MAX_OPS)
    defined = n_inputs
    nodes = []
    for i in range(n_nodes):
        p = f"network.nodes[{i}]"
        code = cursor.u8(f"{p}.op")
        spec = OPS_BY_CODE.get(code)
        if spec is None:
            raise FieldValueError(f"{p}.op", f"expected an op code of the op table, got {code}")
        layer = None
        if spec.layer == "optional":
            flag = cursor.u8(f"{p}.has_layer")
            if flag > 1:
                raise FieldValueError(f"{p}.has_layer", f"expected 0 or 1, got {flag}")
            if flag:
                layer = cursor.name(f"{p}.layer")
        elif spec.layer == "required":
            layer = cursor.name(f"{p}.layer")
        n_in = _arity(cursor, f"{p}.input_count", spec.inputs, "inputs")
        node_inputs = tuple(
            f"v{_position(cursor, f'{p}.inputs[{k}]', defined)}" for k in range(n_in)
        )
        n_out = _arity(cursor, f"{p}.output_count", spec.outputs, "outputs")
        if defined + n_out > layout.MAX_VALUES:
            raise LimitExceededError(
                f"{p}.output_count", f"expected at most {layout.MAX_VALUES} values in the network"
            )
        outputs = tuple(f"v{defined + k}" for k in range(n_out))
        defined += n_out
        attrs = {name: _attr(cursor, kind, f"{p}.attrs.{name}") for name, kind in spec.attrs}
        nodes.append(Node(spec.name, node_inputs, outputs, layer, attrs))

    n_outputs = cursor.count("network.output_count", layout.MAX_VALUES)
    if n_outputs == 0:
        raise FieldValueError("network.output_count", "expected at least 1 output, got 0")
    outputs = tuple(
        f"v{_position(cursor, f'network.outputs[{k}]', defined)}" for k in range(n_outputs)
    )
    try:
        return Graph(tuple(inputs), tuple(nodes), outputs)
    except GraphError as error:  # positions, arities and types are checked above
        raise FieldValueError("network", str(error)) from None
