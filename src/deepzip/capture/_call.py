"""One ATen call under mapping: its arguments bound to the schema, and the reasons to refuse it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import fx, nn


class Unsupported(Exception):
    """An ATen call the graph cannot express; the message says which argument and why."""


@dataclass
class Mapped:
    """The graph node an ATen call becomes (inputs are value names; outputs default to the
    call's own outputs)."""

    op: str
    inputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    layer: str | None = None
    outputs: int = 1


class Call:
    """One ATen call under mapping: its bound arguments and access to the capture's values."""

    def __init__(self, node: fx.Node, walk: Any) -> None:
        self.node = node
        self.walk = walk
        schema = node.target._schema  # type: ignore[union-attr]
        self.args: dict[str, Any] = {}
        for i, argument in enumerate(schema.arguments):
            if i < len(node.args) and not argument.kwarg_only:
                self.args[argument.name] = node.args[i]
            elif argument.name in node.kwargs:
                self.args[argument.name] = node.kwargs[argument.name]
            elif argument.has_default_value():
                self.args[argument.name] = argument.default_value
            else:
                self.args[argument.name] = None

    def __getitem__(self, name: str) -> Any:
        return self.args[name]

    def value(self, name: str) -> str:
        """The graph value of tensor argument ``name``."""
        return self.walk.value_of(self.args[name])

    def shape(self, arg: Any = None) -> tuple[Any, ...]:
        """The shape of an fx argument (default: the call's own output)."""
        val = self.node.meta["val"] if arg is None else arg.meta["val"]
        return tuple(val.shape)

    def params(self, module_type: type[nn.Module], **params: Any) -> str:
        """The module whose parameters ``params`` (name in the module → fx argument or None) are;
        they must all be that module's own, unchanged tensors, and the module a ``module_type``."""
        modules = set()
        for param, arg in params.items():
            if arg is None:
                continue
            name = self.walk.parameter_name(arg)
            if name is None or not (name == param or name.endswith("." + param)):
                raise Unsupported(
                    f"its {param} is not a {module_type.__name__} module's own {param!r} "
                    "(computed in forward or taken from another tensor)"
                )
            modules.add(name[: -len(param)].rstrip("."))
        if len(modules) != 1:
            raise Unsupported(f"its tensors come from several modules: {sorted(modules)}")
        (module,) = modules
        if not module:
            raise Unsupported(
                f"the model itself is the {module_type.__name__}: deepzip names layers by their "
                "path in a model (wrap it, e.g. nn.Sequential(layer))"
            )
        found = self.walk.module(module)
        if not isinstance(found, module_type):
            raise Unsupported(
                f"it uses the parameters of {module!r} ({type(found).__name__}), not those of "
                f"a {module_type.__name__} module (shared or tied weights?)"
            )
        return module


def ints(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    values = tuple(int(v) for v in value)
    return values * n if len(values) == 1 else values


def require(call: Call, **expected: Any) -> None:
    for name, value in expected.items():
        if call[name] != value:
            raise Unsupported(f"{name}={call[name]!r} (deepzip runs {name}={value!r})")
