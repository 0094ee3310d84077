"""Semantic checks of a network graph: parameter values, weights and the shape of every value.

``check_graph`` is what stands between a .dzip file and the engine: a graph it accepts runs (or
fails with a clear message from the engine), one it refuses raises a ``NodeError`` that names the
node, the attribute and the problem. It checks, node by node in order:

1. the op's parameters, which need no shapes (``rules.py``): strides, kernels and dilations
   >= 1, paddings >= 0 (at most half the kernel for pooling, as torch requires), groups >= 1,
   every size at most ``MAX_SIZE``, list lengths, vocabularies, dims that never name the batch
   dimension (0);
2. the module's parameters the op uses, looked up by ``parameter_shape(module, param)`` (the
   contract's rule: a compressed layer ``kinds.layer_name`` or a plain tensor
   ``kinds.parameter_name``): present, of the right rank, agreeing with each other (groups divide
   the channels, an LSTM has every weight and bias of every layer and direction);
3. the shapes of its inputs, inferred from the graph's inputs with torch's rules (batch-first:
   the batch dimension, of unknown size, is ``None`` in a shape and may move with ``transpose``):
   linear's in-features, conv channels, broadcasting, cat, reshape sizes, ...; and its outputs'
   shapes, none of whose dimensions may exceed ``MAX_SIZE``.

Values downstream of an ``unsupported`` op, or of an input whose shape is unknown (version-1
files), have unknown shapes: steps 1 and 2 still run for their nodes, step 3 does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from deepzip.graph.ir import Graph, GraphError, Node
from deepzip.kinds import layer_name, parameter_name

#: The largest size (of a dimension, a kernel, a stride, a padding, ...) a graph may name: the
#: .dzip format's limit on any dimension, and what a C int of the engines and of torch holds.
MAX_SIZE = 2**31 - 1

#: ``(module, param) -> shape`` of a parameter of the model, or None when it has none.
ParameterShape = Callable[[str, str], "tuple[int, ...] | None"]


class NodeError(GraphError):
    """A graph that breaks a rule at one node (``index`` None: at the graph's inputs).

    Attributes:
        index: the node's position in ``graph.nodes``.
        attribute: the attribute at fault (``"attrs.stride"``, ``"layer"``, ``"inputs"``) or None.
    """

    def __init__(self, index: int | None, attribute: str | None, message: str) -> None:
        super().__init__(message)
        self.index, self.attribute = index, attribute


@dataclass(frozen=True)
class Value:
    """What is known of a value: its full shape (``None`` marks the batch dimension, whose size
    is not known when loading) and its dtype (``"float32"`` or ``"int64"``)."""

    shape: tuple[int | None, ...]
    dtype: str = "float32"

    @property
    def batch(self) -> int | None:
        """Position of the batch dimension, or None for a value without one (a constant)."""
        return self.shape.index(None) if None in self.shape else None


def parameter_lookup(
    layers: Mapping[str, tuple[tuple[int, ...], bool]], tensors: Mapping[str, tuple[int, ...]]
) -> ParameterShape:
    """The contract's lookup over compressed layers (name -> (weight shape, has a bias)) and
    plain tensors (name -> shape): ``module``'s ``param`` is the compressed layer
    ``layer_name(module, param)`` if there is one, else the tensor ``parameter_name``; a
    compressed layer's ``bias`` is its own when it carries one, else the tensor's."""

    def shape(module: str, param: str) -> tuple[int, ...] | None:
        if param == "bias" and module in layers and layers[module][1]:
            return (layers[module][0][0],)
        compressed = layers.get(layer_name(module, param))
        if compressed is not None and param != "bias":
            return tuple(compressed[0])
        found = tensors.get(parameter_name(module, param))
        return None if found is None else tuple(found)

    return shape


class Check:
    """The node being checked: its attributes, its parameters, and how to fail."""

    def __init__(self, index: int, node: Node, parameter_shape: ParameterShape) -> None:
        self.index, self.node, self.lookup = index, node, parameter_shape

    def fail(self, message: str, attribute: str | None = None) -> NodeError:
        return NodeError(
            self.index, attribute, f"node {self.index} ({self.node.describe()}): {message}"
        )

    def attr(self, name: str):
        return self.node.attrs[name]

    def ints(self, name: str, length: int | None, minimum: int | None = None) -> tuple[int, ...]:
        """A list of ints; with ``minimum``, sizes: each in ``minimum .. MAX_SIZE``."""
        value = self.node.attrs[name]
        if length is not None and len(value) != length:
            raise self.fail(f"{name} must have {length} values, got {value}", f"attrs.{name}")
        if minimum is not None:
            self._bounded(name, value, minimum, value)
        return value

    def int(self, name: str, minimum: int) -> int:
        """A size: an int in ``minimum .. MAX_SIZE``."""
        value = self.node.attrs[name]
        self._bounded(name, (value,), minimum, value)
        return value

    def _bounded(self, name: str, values: tuple[int, ...], minimum: int, shown) -> None:
        if any(v < minimum for v in values):
            raise self.fail(f"{name} must be >= {minimum}, got {shown}", f"attrs.{name}")
        if any(v > MAX_SIZE for v in values):
            raise self.fail(f"{name} must be <= {MAX_SIZE}, got {shown}", f"attrs.{name}")

    def not_batch_literal(self, name: str, value: int) -> None:
        if value == 0:
            raise self.fail(f"{name} 0 is the batch dimension", f"attrs.{name}")

    def param(self, param: str, ndim: int | None = None, required: bool = True):
        """The shape of the node's module's ``param`` (None if absent and not required)."""
        module = self.node.layer or ""
        shape = self.lookup(module, param)
        if shape is None:
            if required:
                raise self.fail(
                    f"needs {parameter_name(module, param)!r} (a compressed layer or a tensor), "
                    "which the model lacks",
                    "layer",
                )
            return None
        if ndim is not None and len(shape) != ndim:
            raise self.fail(
                f"{parameter_name(module, param)!r} must have {ndim} dimensions, got {shape}",
                "layer",
            )
        return shape

    def dim(self, value: Value, name: str, dim: int, extra: int = 0, batch_ok: bool = False):
        """``dim`` normalised against ``value``'s rank (+ ``extra`` for unsqueeze)."""
        ndim = len(value.shape) + extra
        if not -ndim <= dim < ndim:
            raise self.fail(
                f"{name} {dim} is out of range for a value of shape {show_shape(value.shape)}",
                f"attrs.{name}",
            )
        dim %= ndim
        if not batch_ok and extra == 0 and value.shape[dim] is None:
            raise self.fail(f"{name} {dim} is the batch dimension", f"attrs.{name}")
        return dim


def show_shape(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"


def check_graph(graph: Graph, parameter_shape: ParameterShape) -> dict[str, Value | None]:
    """Check ``graph`` against the model's parameters; return what is known of every value
    (None where its shape is unknown).

    Raises:
        NodeError: (a ``GraphError``) naming the node, the attribute and the problem.
    """
    from deepzip.graph.rules import RULES, infer_unpool_source

    graph.check_structure()
    values: dict[str, Value | None] = {}
    for j, graph_input in enumerate(graph.inputs):
        if graph_input.shape is None:
            values[graph_input.name] = None
            continue
        if any(d < 1 for d in graph_input.shape):
            raise NodeError(
                None, f"inputs[{j}]", f"input {j}: dimensions must be >= 1, got {graph_input.shape}"
            )
        values[graph_input.name] = Value((None, *graph_input.shape), graph_input.dtype)
    producers = graph.producer()
    for index, node in enumerate(graph.nodes):
        check = Check(index, node, parameter_shape)
        rule = RULES[node.op]
        rule.attrs(check)
        params = rule.params(check)
        if node.op == "max_unpool2d":
            infer_unpool_source(check, producers)
        inputs = [values[v] for v in node.inputs]
        if node.op == "unsupported" or any(v is None for v in inputs):
            outputs: list[Value | None] = [None] * len(node.outputs)
        else:
            outputs = rule.infer(check, inputs, params, values, producers)
        for name, value in zip(node.outputs, outputs):
            if value is not None and any(d is not None and d > MAX_SIZE for d in value.shape):
                raise check.fail(
                    f"output {name} would have shape {show_shape(value.shape)}, a dimension "
                    f"above {MAX_SIZE}"
                )
            values[name] = value
    return values
