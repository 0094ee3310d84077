"""The network as a graph: a DAG of ops with named inputs and outputs (DESIGN.md).

A ``Graph`` is what a .dzip file stores to run a model without its Python class: the model's
inputs (dtype and per-sample shape), its nodes in an order where every value is defined before it
is used (so the graph has no cycles by construction), and the values it returns. Values are named
by strings; the file stores them by position, and a graph read back names them ``v0, v1, ...`` in
definition order (inputs first, then each node's outputs), which is also how the capture names
them, so a written graph reads back equal.

This module checks structure only: ops exist, arities and attribute types match ``ops.OPS``,
values are defined before use and defined once. Shapes, parameter values (stride >= 1, groups
dividing channels, ...) and the tensors ops refer to are checked by ``deepzip.graph.shapes`` and
``CompressedModel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deepzip.graph.ops import OPS, OpSpec

INPUT_DTYPES = ("float32", "int64")


class GraphError(ValueError):
    """A graph that breaks a structural or semantic rule; the message names the node."""


@dataclass(frozen=True)
class GraphInput:
    """One input of the network: its value name, dtype and per-sample shape (batch excluded;
    None when unknown, as in version-1 files, whose shapes are then not checked on load)."""

    name: str
    dtype: str = "float32"
    shape: tuple[int, ...] | None = ()


@dataclass(frozen=True, eq=False)
class Node:
    """One op applied to named values.

    Attributes:
        op: a name in ``ops.OPS``.
        inputs: the values it reads, in the op's order.
        outputs: the values it defines.
        layer: the module whose parameters it uses (``"features.0"``), or the tensor of a
            ``constant``; None for ops without parameters.
        attrs: every attribute of the op's spec, by name (ints as int, floats as float, lists as
            tuples).
        module: where the op came from in the user's model (for messages; not stored in the
            file).
    """

    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    layer: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    module: str = ""

    @property
    def spec(self) -> OpSpec:
        return OPS[self.op]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return (self.op, self.inputs, self.outputs, self.layer, self.attrs) == (
            other.op, other.inputs, other.outputs, other.layer, other.attrs,
        )  # fmt: skip

    def describe(self) -> str:
        """``conv2d 'features.0'`` or ``aten.foo.default (from module 'blocks.1')``."""
        if self.op == "unsupported":
            where = self.attrs.get("module") or self.module
            return f"{self.attrs.get('target')}" + (f" (from module {where!r})" if where else "")
        where = self.layer or self.module
        return f"{self.op}" + (f" {where!r}" if where else "")


def _check_attr(node: Node, name: str, kind: str, value: Any) -> None:
    def bad(expected: str) -> GraphError:
        return GraphError(
            f"{node.describe()}: attribute {name!r} must be {expected}, got {value!r}"
        )

    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "int" and not is_int:
        raise bad("an int")
    if kind == "float" and not isinstance(value, float):
        raise bad("a float")
    if kind == "bool" and not isinstance(value, bool):
        raise bad("a bool")
    if kind == "str" and not isinstance(value, str):
        raise bad("a str")
    if kind == "ints" and not (
        isinstance(value, tuple)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise bad("a tuple of ints")
    if kind == "floats" and not (
        isinstance(value, tuple) and all(isinstance(v, float) for v in value)
    ):
        raise bad("a tuple of floats")


@dataclass(frozen=True, eq=False)
class Graph:
    """A network: inputs, nodes in definition order, outputs (value names)."""

    inputs: tuple[GraphInput, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]

    def __post_init__(self) -> None:
        self.check_structure()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return (self.inputs, self.nodes, self.outputs) == (other.inputs, other.nodes, other.outputs)

    def check_structure(self) -> None:
        """Raise ``GraphError`` unless every node is a known op with the right arity and
        attributes, and every value is defined once, before it is used."""
        defined: set[str] = set()
        for graph_input in self.inputs:
            if graph_input.dtype not in INPUT_DTYPES:
                raise GraphError(
                    f"input {graph_input.name!r}: dtype {graph_input.dtype!r} is not one of "
                    f"{INPUT_DTYPES}"
                )
            if graph_input.shape is not None and any(
                not isinstance(d, int) or d < 0 for d in graph_input.shape
            ):
                raise GraphError(f"input {graph_input.name!r}: bad shape {graph_input.shape}")
            if graph_input.name in defined:
                raise GraphError(f"value {graph_input.name!r} is defined twice")
            defined.add(graph_input.name)
        if not self.inputs:
            raise GraphError("the graph has no inputs")
        for node in self.nodes:
            spec = OPS.get(node.op)
            if spec is None:
                raise GraphError(f"unknown op {node.op!r}")
            for what, count, (low, high) in (
                ("inputs", len(node.inputs), spec.inputs),
                ("outputs", len(node.outputs), spec.outputs),
            ):
                if not low <= count <= high:
                    raise GraphError(f"{node.describe()}: {count} {what}, expected {low}..{high}")
            if spec.layer == "required" and not node.layer:
                raise GraphError(f"{node.describe()}: needs a layer")
            if spec.layer == "none" and node.layer is not None:
                raise GraphError(f"{node.describe()}: takes no layer, got {node.layer!r}")
            if set(node.attrs) != set(spec.attr_names()):
                raise GraphError(
                    f"{node.describe()}: attributes {sorted(node.attrs)}, expected "
                    f"{sorted(spec.attr_names())}"
                )
            for name, kind in spec.attrs:
                _check_attr(node, name, kind, node.attrs[name])
            for value in node.inputs:
                if value not in defined:
                    raise GraphError(f"{node.describe()}: input {value!r} is not defined before it")
            for value in node.outputs:
                if value in defined:
                    raise GraphError(f"{node.describe()}: value {value!r} is defined twice")
                defined.add(value)
        if not self.outputs:
            raise GraphError("the graph has no outputs")
        for value in self.outputs:
            if value not in defined:
                raise GraphError(f"graph output {value!r} is not defined")

    def unsupported(self) -> list[Node]:
        """The nodes deepzip's engine cannot run (op ``unsupported``)."""
        return [node for node in self.nodes if node.op == "unsupported"]

    def layers(self) -> list[str]:
        """The modules the nodes use, in first-use order, without repeats."""
        seen: dict[str, None] = {}
        for node in self.nodes:
            if node.layer is not None:
                seen.setdefault(node.layer, None)
        return list(seen)

    def consumers(self) -> dict[str, list[Node]]:
        """For every value, the nodes that read it (graph outputs are not listed)."""
        users: dict[str, list[Node]] = {}
        for node in self.nodes:
            for value in node.inputs:
                users.setdefault(value, []).append(node)
        return users

    def producer(self) -> dict[str, Node]:
        """For every node output, the node that defines it."""
        return {value: node for node in self.nodes for value in node.outputs}

    def canonical(self) -> Graph:
        """The same graph with values renamed ``v0, v1, ...`` in definition order (the names a
        graph read from a file has)."""
        names: dict[str, str] = {}

        def rename(value: str) -> str:
            return names.setdefault(value, f"v{len(names)}")

        inputs = tuple(
            GraphInput(rename(i.name), i.dtype, None if i.shape is None else tuple(i.shape))
            for i in self.inputs
        )
        nodes = []
        for node in self.nodes:
            node_inputs = tuple(names[v] for v in node.inputs)
            node_outputs = tuple(rename(v) for v in node.outputs)
            nodes.append(
                Node(node.op, node_inputs, node_outputs, node.layer, dict(node.attrs), node.module)
            )
        return Graph(inputs, tuple(nodes), tuple(names[v] for v in self.outputs))


def chain(
    ops: list[tuple[str, str | None, dict[str, Any]]],
    input_shape: tuple[int, ...],
    dtype: str = "float32",
) -> Graph:
    """A graph that applies ``ops`` (``(op, layer, attrs)``) one after the other to one input:
    the shape of a ``nn.Sequential`` network (and of a version-1 file's network record)."""
    nodes = []
    value = "v0"
    for i, (op, layer, attrs) in enumerate(ops):
        out = f"v{i + 1}"
        nodes.append(Node(op, (value,), (out,), layer, dict(attrs)))
        value = out
    return Graph((GraphInput("v0", dtype, tuple(input_shape)),), tuple(nodes), (value,))
