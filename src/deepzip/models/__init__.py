"""The built-in networks, by name: ``MODELS`` maps names to factories, ``build_model(name)``
builds one, untrained."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from deepzip.models.lenet import lenet_5, lenet_300_100

__all__ = ["MODELS", "build_model", "lenet_5", "lenet_300_100"]

MODELS: dict[str, Callable[[], nn.Module]] = {
    "lenet-300-100": lenet_300_100,
    "lenet-5": lenet_5,
}


def build_model(name: str) -> nn.Module:
    """A fresh, untrained built-in model by name (see ``MODELS``)."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; built-in models: {', '.join(MODELS)}") from None
    return factory()
