"""The walk over an exported program that builds the Graph (see ``deepzip.capture``)."""

from __future__ import annotations

import copy
import dataclasses
import operator
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn
from torch.export import Dim
from torch.export.graph_signature import InputKind, OutputKind
from torch.nn.utils import parametrize

from deepzip.capture._aten import HANDLERS
from deepzip.capture._call import Call, Mapped, Unsupported
from deepzip.graph import Graph, GraphInput, Node

#: Prefix of the names under which values computed from the model's tensors alone are stored.
CONSTANT_PREFIX = "constants."


@dataclass(frozen=True)
class CaptureResult:
    """A captured network.

    Attributes:
        graph: the network (values named ``v0, v1, ...`` in definition order).
        problems: one line per ``unsupported`` node: the ATen op, why, and the module it came
            from. Empty when the engine can run the whole graph.
        constants: tensors the graph's ``constant`` nodes name that are not in the model's
            state_dict (tensor literals and values computed from the model's tensors alone), by
            name.
    """

    graph: Graph
    problems: list[str] = field(default_factory=list)
    constants: dict[str, torch.Tensor] = field(default_factory=dict)


def without_parametrizations(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose parametrized tensors (pruning masks, shared weights) are plain
    tensors holding their current values, named as in the unparametrized model."""
    plain = copy.deepcopy(model)
    for module in [m for m in plain.modules() if parametrize.is_parametrized(m)]:
        # Not parametrize.remove_parametrizations: it deletes the tensor's property from the
        # parametrized class, which the copy shares with the user's model.
        with torch.no_grad():
            values = {name: getattr(module, name).detach().clone()
                      for name in module.parametrizations}  # type: ignore[union-attr]  # fmt: skip
        del module._modules["parametrizations"]
        module.__class__ = type(module).__bases__[0]
        for name, value in values.items():
            module.register_parameter(name, nn.Parameter(value, requires_grad=False))
    return plain


def _example_tuple(example_inputs: Any) -> tuple[Any, ...]:
    # A batch of one is specialised by torch.export (the graph then holds batch-1 shapes where
    # the model computes shapes): examples with two rows or more keep the batch symbolic.
    return example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)


def export(plain: nn.Module, example_inputs: Any) -> torch.export.ExportedProgram:
    """``torch.export`` of ``plain`` (a model without parametrizations) in eval mode, non-strict,
    dimension 0 of every tensor input dynamic, no decompositions."""
    plain.eval()
    inputs = _example_tuple(example_inputs)
    dynamic = tuple({0: Dim.AUTO} if isinstance(x, torch.Tensor) and x.ndim else None
                    for x in inputs)  # fmt: skip
    with torch.no_grad(), warnings.catch_warnings():
        # nn.LSTM reassigns its flat weight list while traced; torch warns, harmlessly.
        warnings.filterwarnings("ignore", message="The tensor attributes .*_flat_weights")
        return torch.export.export(plain, inputs, strict=False, dynamic_shapes=dynamic)


def _module_path(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    for path, _ in reversed(list(stack.values())):
        if not path.startswith("_empty"):
            return path
    return ""


def _is_view(node: fx.Node) -> bool:
    schema = getattr(node.target, "_schema", None)
    return bool(schema and schema.returns and schema.returns[0].alias_info is not None
                and not schema.returns[0].alias_info.is_write)  # fmt: skip


#: Ops that may return their input itself (not a copy) at inference.
_ALIASING = {"dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "alias",
             "contiguous", "detach"}  # fmt: skip


def _aliases_input(node: fx.Node) -> bool:
    """Whether ``node``'s value may share memory with its first argument."""
    if node.op != "call_function" or not isinstance(node.args[0] if node.args else None, fx.Node):
        return False
    return _is_view(node) or _functional(node.target).partition(".")[0] in _ALIASING


def _is_inplace(node: fx.Node) -> bool:
    schema = getattr(node.target, "_schema", None)
    return bool(schema and schema.arguments and schema.arguments[0].alias_info is not None
                and schema.arguments[0].alias_info.is_write)  # fmt: skip


def _written(node: fx.Node) -> str | None:
    """The placeholder an in-place op writes into (directly or through views), if any."""
    if "detach_" in str(node.target):
        return None
    root = node.args[0]
    while isinstance(root, fx.Node) and _is_view(root):
        root = root.args[0]
    return root.name if isinstance(root, fx.Node) and root.op == "placeholder" else None


def _functional(target: Any) -> str:
    """``"relu.default"`` for ``aten.relu_.default``; the overload name of any ATen op."""
    name = str(target).removeprefix("aten.")
    op, _, overload = name.partition(".")
    return f"{op.removesuffix('_')}.{overload}" if op.endswith("_") else name


class _Walk:
    def __init__(self, program: torch.export.ExportedProgram, model: nn.Module) -> None:
        self.program = program
        self.model = model
        self.signature = program.graph_signature
        self.nodes: list[Node] = []
        self.constants: dict[str, torch.Tensor] = {}
        self.values: dict[fx.Node, Any] = {}  # fx node → value name, or tuple for multi-output
        self.tensor_of: dict[str, str] = {}  # placeholder name → state_dict / constant name
        self.depends: set[fx.Node] = set()  # nodes that depend on a user input
        self.real: dict[fx.Node, Any] = {}  # real values of input-independent nodes
        self.const_nodes: dict[fx.Node, str] = {}
        self.order = {node: i for i, node in enumerate(program.graph.nodes)}
        self.kind_of = {spec.arg.name: spec.kind for spec in self.signature.input_specs}
        for spec in self.signature.input_specs:
            if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
                self.tensor_of[spec.arg.name] = spec.target
        # Parameters, buffers (non-persistent ones too) and lifted constants, by name.
        self.tensors = {**dict(model.named_parameters(remove_duplicate=False)),
                        **dict(model.named_buffers(remove_duplicate=False)),
                        **program.constants}  # fmt: skip

    # -- services for the handlers -------------------------------------------------------------
    def module(self, path: str) -> nn.Module | None:
        try:
            return self.model.get_submodule(path)
        except AttributeError:
            return None

    def parameter_name(self, arg: Any) -> str | None:
        """The state_dict name of a parameter/buffer placeholder, else None."""
        if isinstance(arg, fx.Node) and arg.op == "placeholder" and arg.name in self.tensor_of:
            constant = self.kind_of[arg.name] == InputKind.CONSTANT_TENSOR
            return None if constant else self.tensor_of[arg.name]
        return None

    def value_of(self, arg: Any) -> str:
        if not isinstance(arg, fx.Node):
            raise Unsupported(f"an operand is the Python value {arg!r}, not a tensor")
        if arg not in self.depends:
            return self._constant(arg)
        value = self.values.get(arg)
        if not isinstance(value, str):
            raise Unsupported(f"operand {arg.name!r} has no tensor value in the graph")
        return value

    def _constant(self, arg: fx.Node) -> str:
        """A ``constant`` node for a tensor that does not depend on the inputs."""
        if arg in self.const_nodes:
            return self.const_nodes[arg]
        name = self.parameter_name(arg)
        if name is None:
            tensor = self.real_value(arg)
            if not isinstance(tensor, torch.Tensor):
                raise Unsupported(f"operand {arg.name!r} is not a tensor")
            name = CONSTANT_PREFIX + arg.name
            self.constants[name] = tensor.detach().clone()
        value = f"const.{arg.name}"
        self.nodes.append(Node("constant", (), (value,), name, {}, _module_path(arg)))
        self.const_nodes[arg] = value
        return value

    def real_value(self, node: Any) -> Any:
        """The actual value of an input-independent fx node (computed with the real tensors)."""
        if isinstance(node, (list, tuple)):
            return type(node)(self.real_value(n) for n in node)
        if not isinstance(node, fx.Node):
            return node
        if node not in self.real:
            if node.op == "placeholder":
                self.real[node] = self.tensors[self.tensor_of[node.name]].detach().clone()
            else:
                args = self.real_value(tuple(node.args))
                kwargs = {k: self.real_value(v) for k, v in node.kwargs.items()}
                with torch.no_grad():
                    self.real[node] = node.target(*args, **kwargs)  # type: ignore[operator]
        return self.real[node]

    # -- the walk ------------------------------------------------------------------------------
    def run(self) -> Graph:
        graph = self.program.graph
        inputs = []
        user_inputs = {s.arg.name for s in self.signature.input_specs
                       if s.kind == InputKind.USER_INPUT}  # fmt: skip
        for node in graph.nodes:
            if node.op == "placeholder":
                if node.name in user_inputs:
                    inputs.append(self._input(node))
            elif node.op == "call_function":
                if any(a in self.depends for a in node.all_input_nodes):
                    self.depends.add(node)
                    self._call(node)
                elif _is_inplace(node) and _written(node) is not None:
                    written = self.tensor_of.get(_written(node), _written(node))
                    target = f"{node.target} (the forward writes into {written!r} in place)"
                    attrs = {"target": target, "module": _module_path(node)}
                    self.nodes.append(Node("unsupported", (), (), None, attrs))
        outputs = self._outputs(graph)
        self._mutations()
        return _prune(Graph(tuple(inputs), tuple(self.nodes), outputs))

    def _input(self, node: fx.Node) -> GraphInput:
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise ValueError(f"input {node.name!r}: deepzip captures tensor inputs only")
        dtype = {torch.float32: "float32", torch.int64: "int64"}.get(val.dtype)
        if dtype is None:
            raise ValueError(f"input {node.name!r} is {val.dtype}; deepzip runs float32 and int64")
        shape = tuple(val.shape[1:])
        if not all(isinstance(s, int) for s in shape):
            raise ValueError(f"input {node.name!r}: only dimension 0 may vary, got {val.shape}")
        self.depends.add(node)
        self.values[node] = node.name
        return GraphInput(node.name, dtype, shape)

    def _call(self, node: fx.Node) -> None:
        if node.target is operator.getitem:
            source = self.values.get(node.args[0])
            if isinstance(source, tuple) and node.args[1] < len(source):
                self.values[node] = source[node.args[1]]
            return
        val = node.meta.get("val")
        if not isinstance(val, (torch.Tensor, tuple, list)):
            return  # shape arithmetic (sym_size, ...): read by handlers from the meta shapes
        name = _functional(node.target)
        if _is_inplace(node):
            try:
                self._check_inplace(node)
            except Unsupported as reason:  # no outputs: the node stays, a side effect
                mapped = self._unsupported(node, f"{node.target} ({reason})")
                self._emit(node, dataclasses.replace(mapped, outputs=0))
                return
        try:
            handler = HANDLERS.get(name)
            if handler is None:
                raise Unsupported("not in deepzip's op table")
            mapped = handler(Call(node, self))
        except Unsupported as reason:
            mapped = self._unsupported(node, f"{node.target} ({reason})")
        if isinstance(mapped, list):  # one node per output (split, chunk, unbind)
            names = []
            for i, part in enumerate(mapped):
                names.append(f"{node.name}.{i}")
                self.nodes.append(Node(part.op, part.inputs, (names[-1],), part.layer,
                                       part.attrs, _module_path(node)))  # fmt: skip
            self.values[node] = tuple(names)
        else:
            self._emit(node, mapped)
        if _is_inplace(node):  # later readers of the mutated tensor see the result
            self.values[node.args[0]] = self.values[node]

    def _check_inplace(self, node: fx.Node) -> None:
        """Refuse an in-place op unless only its own target is read after it (the capture
        rebinds that name): not an input or model tensor, nor one read again through a view or
        alias taken before the write."""
        target = node.args[0]
        root = target
        while isinstance(root, fx.Node) and _aliases_input(root):
            root = root.args[0]
        if not isinstance(root, fx.Node) or root.op == "placeholder":
            raise Unsupported("it writes in place into an input or a model tensor")
        order = self.order
        family, stack = set(), [root]
        while stack:
            alias = stack.pop()
            family.add(alias)
            stack += [u for u in alias.users if u not in family and _aliases_input(u)
                      and u.args[0] is alias and order[u] < order[node]]  # fmt: skip
        for alias in family - {target}:
            if any(order[u] > order[node] for u in alias.users):
                raise Unsupported(
                    "it writes in place into a tensor that is read again under another name "
                    "(a view or alias taken before the write)"
                )

    def _unsupported(self, node: fx.Node, target: str) -> Mapped:
        inputs = []
        for arg in node.all_input_nodes:
            if arg in self.depends and isinstance(self.values.get(arg), str):
                inputs.append(self.values[arg])
        val = node.meta.get("val")
        outputs = len(val) if isinstance(val, (tuple, list)) else 1
        return Mapped("unsupported", tuple(inputs), {"target": target}, None, outputs)

    def _emit(self, node: fx.Node, mapped: Mapped) -> None:
        module = _module_path(node)
        if mapped.op == "identity":
            self.values[node] = mapped.inputs[0]
            return
        names = tuple(node.name if mapped.outputs == 1 else f"{node.name}.{i}"
                      for i in range(mapped.outputs))  # fmt: skip
        attrs = dict(mapped.attrs)
        if mapped.op == "unsupported":
            attrs["module"] = module
        self.nodes.append(Node(mapped.op, mapped.inputs, names, mapped.layer, attrs, module))
        if names:
            several = isinstance(node.meta.get("val"), (tuple, list))
            self.values[node] = names if several else names[0]

    def _outputs(self, graph: fx.Graph) -> tuple[str, ...]:
        (returned,) = [n for n in graph.nodes if n.op == "output"]
        kinds = [s.kind for s in self.signature.output_specs]
        out = []
        for arg, kind in zip(returned.args[0], kinds):
            if kind != OutputKind.USER_OUTPUT:
                continue
            try:
                out.append(self.value_of(arg))
            except Unsupported as reason:
                target = f"output ({reason})"
                name = f"output.{len(out)}"
                attrs = {"target": target, "module": ""}
                self.nodes.append(Node("unsupported", (), (name,), None, attrs))
                out.append(name)
        return tuple(out)

    def _mutations(self) -> None:
        for spec in self.signature.output_specs:
            if spec.kind in (OutputKind.BUFFER_MUTATION, OutputKind.USER_INPUT_MUTATION):
                target = f"the forward writes into {spec.target!r} in place"
                attrs = {"target": target, "module": ""}
                self.nodes.append(Node("unsupported", (), (), None, attrs))


def _prune(graph: Graph) -> Graph:
    """The graph without the nodes no output needs (nodes without outputs stay: they report
    a side effect), values renamed canonically."""
    needed = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if not node.outputs or any(v in needed for v in node.outputs):
            kept.append(node)
            needed.update(node.inputs)
    return Graph(graph.inputs, tuple(reversed(kept)), graph.outputs).canonical()


def capture(model: nn.Module, example_inputs: Any) -> CaptureResult:
    """The network of ``model`` as a Graph (see the package docstring)."""
    return capture_plain(without_parametrizations(model), example_inputs)


def capture_plain(plain: nn.Module, example_inputs: Any) -> CaptureResult:
    """``capture`` of a model without parametrizations (put in eval mode)."""
    try:
        program = export(plain, example_inputs)
    except Exception as error:  # torch.export's failures have many types; report, don't crash
        return _not_exported(example_inputs, error)
    walk = _Walk(program, plain)
    graph = walk.run()
    used = {n.layer for n in graph.nodes if n.op == "constant"}
    constants = {k: v for k, v in walk.constants.items() if k in used}
    problems = [n.describe() for n in graph.unsupported()]
    return CaptureResult(graph, problems, constants)


def _not_exported(example_inputs: Any, error: Exception) -> CaptureResult:
    """A graph of one ``unsupported`` node that says why torch.export failed."""
    inputs = []
    for i, x in enumerate(_example_tuple(example_inputs)):
        if isinstance(x, torch.Tensor) and x.ndim:
            dtype = "int64" if x.dtype == torch.int64 else "float32"
            inputs.append(GraphInput(f"input{i}", dtype, tuple(x.shape[1:])))
    if not inputs:
        raise ValueError("example_inputs holds no tensor with a batch dimension") from error
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    target = f"torch.export failed: {type(error).__name__}: {first}"
    node = Node("unsupported", tuple(i.name for i in inputs), ("output",), None,
                {"target": target, "module": ""})  # fmt: skip
    graph = Graph(tuple(inputs), (node,), ("output",)).canonical()
    return CaptureResult(graph, [node.describe()], {})
