"""From a PyTorch model to a CompressedModel and back (the torch side of the .dzip handover).

``to_compressed_model`` collects a weight-shared model's compressed layers, the tensors left
uncompressed, and a description of the network as NetworkOps, so that a .dzip file can be run
without the model's Python class. Networks that are ``nn.Sequential`` stacks (nested ones too) of
Linear, Conv2d, ReLU, MaxPool2d, AvgPool2d, Flatten and Dropout can be described; for any other
model the network is None and the file holds the layers and tensors only.

``to_torch`` rebuilds a dense ``nn.Sequential`` with the dequantized weights from a described
CompressedModel: the reference that the engine and ``deepzip decompress`` are checked against.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from deepzip.compressed import CompressedModel, NetworkOp
from deepzip.layers import select_layers
from deepzip.reorder import sort_units
from deepzip.share.quantize import QuantizeConfig, compressed_layers


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _op(name: str, module: nn.Module) -> NetworkOp | None:
    """The NetworkOp for one module, or None if it cannot be described."""
    if isinstance(module, nn.Linear):
        return NetworkOp("linear", name)
    if isinstance(module, nn.Conv2d):
        if isinstance(module.padding, str) or module.padding_mode != "zeros":
            return None
        return NetworkOp(
            "conv2d",
            name,
            (*module.stride, *_pair(module.padding), *module.dilation, module.groups),
        )
    if isinstance(module, nn.ReLU):
        return NetworkOp("relu")
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        if module.ceil_mode or _pair(getattr(module, "dilation", 1)) != (1, 1):
            return None
        if isinstance(module, nn.AvgPool2d) and not module.count_include_pad:
            return None
        kind = "maxpool2d" if isinstance(module, nn.MaxPool2d) else "avgpool2d"
        stride = module.stride if module.stride is not None else module.kernel_size
        return NetworkOp(
            kind, None, (*_pair(module.kernel_size), *_pair(stride), *_pair(module.padding))
        )
    if isinstance(module, nn.Flatten):
        return NetworkOp("flatten", None, (module.start_dim, module.end_dim))
    if isinstance(module, nn.Dropout):
        return NetworkOp("dropout")
    return None


def describe_network(model: nn.Module) -> list[NetworkOp] | None:
    """The model as a list of NetworkOps in forward order, or None if it is not describable."""
    if not isinstance(model, nn.Sequential):
        return None
    ops: list[NetworkOp] = []

    def walk(seq: nn.Sequential, prefix: str) -> bool:
        for child_name, child in seq.named_children():
            name = f"{prefix}{child_name}"
            if isinstance(child, nn.Sequential):
                if not walk(child, name + "."):
                    return False
                continue
            op = _op(name, child)
            if op is None:
                return False
            ops.append(op)
        return True

    return ops if walk(model, "") else None


def to_compressed_model(model: nn.Module, config: QuantizeConfig | None = None) -> CompressedModel:
    """The weight-shared layers, remaining tensors and network description of ``model``; with
    ``config.sort_units``, its hidden units sorted for a smaller file (``deepzip.reorder``)."""
    layers = compressed_layers(model, config)
    shared = {layer.name for layer in layers}
    tensors: dict[str, np.ndarray] = {}
    # Layers that were pruned but not shared, or left alone: their effective weight, as float32.
    for name, module in select_layers(model).items():
        if name in shared:
            continue
        tensors[f"{name}.weight"] = module.weight.detach().cpu().numpy().astype(np.float32)
    skip = {f"{n}.bias" for n in shared}
    for key, value in model.state_dict().items():
        if ".parametrizations." in key or key in skip or key in tensors:
            continue
        if not torch.is_floating_point(value):
            continue  # integer buffers (e.g. BatchNorm's step count) are not weights
        tensors[key] = value.detach().cpu().numpy().astype(np.float32)
    compressed = CompressedModel(layers, describe_network(model), tensors)
    return sort_units(compressed) if config is not None and config.sort_units else compressed


def dense_state_dict(model: CompressedModel) -> dict[str, torch.Tensor]:
    """Dense float32 weights by state_dict name: dequantized layers and the plain tensors."""
    state: dict[str, torch.Tensor] = {}
    for layer in model.layers:
        state[f"{layer.name}.weight"] = torch.from_numpy(layer.dense_weight())
        if layer.bias is not None:
            state[f"{layer.name}.bias"] = torch.from_numpy(layer.bias.copy())
    for name, tensor in model.tensors.items():
        state[name] = torch.from_numpy(np.array(tensor, dtype=np.float32))
    return state


def to_torch(model: CompressedModel) -> nn.Sequential:
    """A dense nn.Sequential that computes what the stored network computes."""
    if model.network is None:
        raise ValueError("the model has no network description; it cannot be run")
    state = dense_state_dict(model)
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    for i, op in enumerate(model.network):
        key = f"{i}_{op.kind}"
        if op.kind in ("linear", "conv2d"):
            weight = state[f"{op.layer}.weight"]
            bias = state.get(f"{op.layer}.bias")
            if op.kind == "linear":
                module: nn.Module = nn.Linear(weight.shape[1], weight.shape[0], bias is not None)
            else:
                sh, sw, ph, pw, dh, dw, groups = op.params
                module = nn.Conv2d(
                    weight.shape[1] * groups,
                    weight.shape[0],
                    tuple(weight.shape[2:]),
                    stride=(sh, sw),
                    padding=(ph, pw),
                    dilation=(dh, dw),
                    groups=groups,
                    bias=bias is not None,
                )
            with torch.no_grad():
                module.weight.copy_(weight)
                if bias is not None:
                    module.bias.copy_(bias)
        elif op.kind == "relu":
            module = nn.ReLU()
        elif op.kind in ("maxpool2d", "avgpool2d"):
            kh, kw, sh, sw, ph, pw = op.params
            pool = nn.MaxPool2d if op.kind == "maxpool2d" else nn.AvgPool2d
            module = pool((kh, kw), (sh, sw), (ph, pw))
        elif op.kind == "flatten":
            module = nn.Flatten(*op.params)
        else:
            module = nn.Dropout()
        modules[key] = module
    return nn.Sequential(modules).eval()
