"""Finding the layers to compress, by type and fully-qualified name (never by hard-coded names)."""

from __future__ import annotations

from torch import nn

#: Module types whose ``weight`` deepzip prunes and shares, and their layer kind.
COMPRESSIBLE: dict[type[nn.Module], str] = {nn.Linear: "linear", nn.Conv2d: "conv2d"}


def compressible_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every Linear and Conv2d in ``model``, keyed by fully-qualified name, in module order."""
    # isinstance, not type(): a parametrized module's class is a generated subclass.
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, tuple(COMPRESSIBLE))
    }


def layer_kind(module: nn.Module) -> str:
    for cls, kind in COMPRESSIBLE.items():
        if isinstance(module, cls):
            return kind
    raise TypeError(f"{type(module).__name__} is not a compressible layer")


def select_layers(model: nn.Module, names: list[str] | None = None) -> dict[str, nn.Module]:
    """The compressible layers named in ``names`` (all when None); unknown names raise."""
    layers = compressible_layers(model)
    if names is None:
        return layers
    unknown = [n for n in names if n not in layers]
    if unknown:
        raise KeyError(
            f"no compressible layer named {', '.join(map(repr, unknown))}; "
            f"the model has {', '.join(layers) or 'none'}"
        )
    return {n: layers[n] for n in names}
