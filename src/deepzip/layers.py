"""Finding the weights to compress, by type and fully-qualified name (never by hard-coded names).

Which modules and parameters are compressible comes from the one registry of layer kinds
(``deepzip.kinds``): a module whose class is a kind's ``module`` contributes the parameters the
kind names (``weight``; an ``nn.LSTM``'s every ``weight_ih_l*`` and ``weight_hh_l*``, both
directions). Each such parameter is one compressed layer, addressed by its compressed layer name
(``kinds.layer_name``: ``"features.0"``, ``"rnn.weight_hh_l0"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from deepzip.kinds import KINDS, layer_name

#: Module types whose weights deepzip prunes and shares, and their layer kind (from the registry).
COMPRESSIBLE: dict[type[nn.Module], str] = {
    getattr(nn, kind.module): name for name, kind in KINDS.items()
}


@dataclass(frozen=True, eq=False)
class CompressibleWeight:
    """One compressible parameter: ``module``'s ``param``, of layer kind ``kind``."""

    name: str
    module: nn.Module
    param: str
    kind: str

    @property
    def weight(self) -> torch.Tensor:
        """The parameter as the forward pass sees it (masked or shared when parametrized)."""
        return getattr(self.module, self.param)


def layer_kind(module: nn.Module) -> str:
    # isinstance, not type(): a parametrized module's class is a generated subclass.
    for cls, kind in COMPRESSIBLE.items():
        if isinstance(module, cls):
            return kind
    raise TypeError(f"{type(module).__name__} is not a compressible layer")


def _parameter_names(module: nn.Module) -> list[str]:
    """The module's own parameter names, parametrized ones included, in the module's order."""
    flat = getattr(module, "_flat_weights_names", None)  # nn.LSTM: its canonical order
    if flat:
        return list(flat)
    names = [name for name, _ in module.named_parameters(recurse=False)]
    if parametrize.is_parametrized(module):
        names += list(module.parametrizations.keys())  # type: ignore[union-attr]
    return names


def compressible_weights(model: nn.Module) -> dict[str, CompressibleWeight]:
    """Every compressible parameter of ``model``, by compressed layer name, in module order."""
    out = {}
    for module_name, module in model.named_modules():
        if not isinstance(module, tuple(COMPRESSIBLE)):
            continue
        kind = layer_kind(module)
        for param in KINDS[kind].params(_parameter_names(module)):
            name = layer_name(module_name, param)
            out[name] = CompressibleWeight(name, module, param, kind)
    return out


def select_weights(
    model: nn.Module, names: list[str] | None = None
) -> dict[str, CompressibleWeight]:
    """The compressible parameters named in ``names`` (all when None); unknown names raise."""
    weights = compressible_weights(model)
    if names is None:
        return weights
    unknown = [n for n in names if n not in weights]
    if unknown:
        raise KeyError(
            f"no compressible layer named {', '.join(map(repr, unknown))}; "
            f"the model has {', '.join(weights) or 'none'}"
        )
    return {n: weights[n] for n in names}


def compressible_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The module that owns each compressible parameter, by compressed layer name (an LSTM
    appears once per weight). Use ``compressible_weights`` to know which parameter it is."""
    return {name: w.module for name, w in compressible_weights(model).items()}


def select_layers(model: nn.Module, names: list[str] | None = None) -> dict[str, nn.Module]:
    """``select_weights``' modules: the owner of each named compressible parameter."""
    return {name: w.module for name, w in select_weights(model, names).items()}
