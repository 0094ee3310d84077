"""The graph's ops without a compressed weight, in numpy, with torch's semantics on batch-first
values (``deepzip.graph.ops``): activations, arithmetic, normalisation, pooling and resampling,
and shape ops. ``prepare(node, params)`` returns a function of the node's input arrays that gives
its outputs (a tuple); the node's parameters (batch norm statistics, ...) are read once, there.

Float results are float32; intermediate sums and transcendental functions use float64 where
float32 would lose more than torch does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deepzip.engine import _kernels
from deepzip.engine.parameters import Parameters
from deepzip.engine.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d, max_unpool2d
from deepzip.engine.spatial import upsample
from deepzip.graph import Node


def _float(x: np.ndarray) -> np.ndarray:
    return x if x.dtype == np.float32 else x.astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return _float(1.0 / (1.0 + np.exp(-x.astype(np.float64))))


def _gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    x64 = np.asarray(x, dtype=np.float64)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x64 + 0.044715 * x64**3)
        return _float(0.5 * x64 * (1.0 + np.tanh(inner)))
    if approximate != "none":
        raise ValueError(f"gelu approximate {approximate!r} is not one of ('none', 'tanh')")
    flat = np.ascontiguousarray(x64.ravel())
    erf = np.empty_like(flat)
    _kernels.erf(flat / math.sqrt(2.0), erf)
    return _float((0.5 * flat * (1.0 + erf)).reshape(x.shape))


def _leaky_relu(x: np.ndarray, slope: float) -> np.ndarray:
    return np.where(x > 0, x, x * np.float32(slope)).astype(x.dtype)


def _binary(op: str, scalar: float) -> Callable[..., np.ndarray]:
    ufunc = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}[op]

    def apply(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        if b is None:
            if np.issubdtype(a.dtype, np.integer) and float(scalar).is_integer() and op != "div":
                b = int(scalar)  # an integer tensor and a whole number stay integers, as in torch
            else:
                a, b = _float(a), np.float32(scalar)
        elif scalar != 0.0:
            raise ValueError(f"{op} of two values takes scalar 0.0, got {scalar}")
        y = ufunc(a, b)
        return _float(y) if op == "div" or y.dtype.kind == "f" else y

    return apply


def _softmax(x: np.ndarray, dim: int) -> np.ndarray:
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=dim, keepdims=True))
    return _float(e / e.sum(axis=dim, keepdims=True))


def _mean(x: np.ndarray, dims: tuple[int, ...], keepdim: bool) -> np.ndarray:
    axis = tuple(dims) if dims else None
    return _float(np.mean(x, axis=axis, keepdims=keepdim, dtype=np.float64))


def _flatten(x: np.ndarray, start_dim: int, end_dim: int) -> np.ndarray:
    if x.ndim == 0:
        return x.reshape(1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} is after end_dim {end_dim}")
    return x.reshape(*x.shape[:start], -1, *x.shape[end + 1 :])


def _squeeze(x: np.ndarray, dim: int) -> np.ndarray:
    return np.squeeze(x, axis=dim) if x.shape[dim] == 1 else x  # torch: a no-op on other sizes


def _slice(x: np.ndarray, dim: int, start: int, end: int, step: int) -> np.ndarray:
    if step < 1:
        raise ValueError(f"slice step must be positive, got {step}")
    index = [slice(None)] * x.ndim
    index[dim] = slice(start, end, step)
    return x[tuple(index)]


def _select(x: np.ndarray, dim: int, index: int) -> np.ndarray:
    size = x.shape[dim]
    if not -size <= index < size:
        raise ValueError(f"select: index {index} is out of range for size {size}")
    return np.take(x, index, axis=dim)


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    """Shape that puts a per-channel vector on axis 1 of ``x``."""
    return (1, -1) + (1,) * (x.ndim - 2)


def _batch_norm(node: Node, params: Parameters) -> Callable[[np.ndarray], np.ndarray]:
    mean = params.tensor(node.layer, "running_mean")
    var = params.tensor(node.layer, "running_var")
    weight = params.tensor(node.layer, "weight", required=False)
    bias = params.tensor(node.layer, "bias", required=False)
    scale = 1.0 / np.sqrt(var.astype(np.float64) + node.attrs["eps"])
    if weight is not None:
        scale = scale * weight
    shift = -mean * scale + (0.0 if bias is None else bias)

    def apply(x: np.ndarray) -> np.ndarray:
        if x.ndim < 2 or x.shape[1] != mean.size:
            raise ValueError(f"needs {mean.size} channels on axis 1, got shape {x.shape}")
        return _float(x * scale.reshape(_channel_shape(x)) + shift.reshape(_channel_shape(x)))

    return apply


def _layer_norm(node: Node, params: Parameters) -> Callable[[np.ndarray], np.ndarray]:
    shape = tuple(node.attrs["normalized_shape"])
    weight = bias = None
    if node.layer is not None:
        weight = params.tensor(node.layer, "weight", required=False)
        bias = params.tensor(node.layer, "bias", required=False)
    axes = tuple(range(-len(shape), 0))

    def apply(x: np.ndarray) -> np.ndarray:
        if x.shape[x.ndim - len(shape) :] != shape:
            raise ValueError(f"normalized_shape {shape} does not end the input shape {x.shape}")
        x64 = x.astype(np.float64)
        centred = x64 - x64.mean(axis=axes, keepdims=True)
        y = centred / np.sqrt((centred**2).mean(axis=axes, keepdims=True) + node.attrs["eps"])
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        return _float(y)

    return apply


def _prelu(node: Node, params: Parameters) -> Callable[[np.ndarray], np.ndarray]:
    weight = params.tensor(node.layer, "weight")

    def apply(x: np.ndarray) -> np.ndarray:
        slope = weight.reshape(_channel_shape(x)) if weight.size > 1 else weight.reshape(())
        if weight.size > 1 and (x.ndim < 2 or x.shape[1] != weight.size):
            raise ValueError(f"needs {weight.size} channels on axis 1, got shape {x.shape}")
        return np.where(x > 0, x, x * slope).astype(np.float32)

    return apply


def _constant(node: Node, params: Parameters) -> Callable[[], np.ndarray]:
    value = params.model.tensors.get(node.layer)
    if value is None:
        raise ValueError(
            f"the model has no plain tensor {node.layer!r} (a compressed layer's weight is never "
            "decoded to a dense constant)"
        )
    value = np.asarray(value)
    return lambda: value


_SIMPLE: dict[str, Callable[..., Callable[..., np.ndarray]]] = {
    "relu": lambda a: lambda x: np.maximum(x, 0).astype(x.dtype),
    "relu6": lambda a: lambda x: np.clip(x, 0, 6).astype(x.dtype),
    "leaky_relu": lambda a: lambda x: _leaky_relu(x, a["negative_slope"]),
    "hardswish": lambda a: lambda x: _float(x * np.clip(x + 3.0, 0.0, 6.0) / 6.0),
    "sigmoid": lambda a: _sigmoid,
    "tanh": lambda a: lambda x: _float(np.tanh(x)),
    "gelu": lambda a: lambda x: _gelu(x, a["approximate"]),
    "add": lambda a: _binary("add", a["scalar"]),
    "sub": lambda a: _binary("sub", a["scalar"]),
    "mul": lambda a: _binary("mul", a["scalar"]),
    "div": lambda a: _binary("div", a["scalar"]),
    "softmax": lambda a: lambda x: _softmax(x, a["dim"]),
    "matmul": lambda a: lambda x, y: np.matmul(x, y),
    "mean": lambda a: lambda x: _mean(x, a["dims"], a["keepdim"]),
    "max_unpool2d": lambda a: lambda x, i: max_unpool2d(x, i, a["output_size"]),
    "avg_pool2d": lambda a: (
        lambda x: avg_pool2d(
            x,
            a["kernel"],
            a["stride"],
            a["padding"],
            a["ceil_mode"],
            a["count_include_pad"],
            a["divisor_override"],
        )
    ),
    "adaptive_avg_pool2d": lambda a: lambda x: adaptive_avg_pool2d(x, a["output_size"]),
    "upsample": lambda a: (
        lambda x: upsample(x, a["mode"], a["size"], a["scales"], a["align_corners"])
    ),
    "flatten": lambda a: lambda x: _flatten(x, a["start_dim"], a["end_dim"]),
    "reshape": lambda a: lambda x: x.reshape(x.shape[0], *a["shape"]),
    "permute": lambda a: lambda x: np.transpose(x, a["dims"]),
    "transpose": lambda a: lambda x: np.swapaxes(x, a["dim0"], a["dim1"]),
    "cat": lambda a: lambda *xs: np.concatenate(xs, axis=a["dim"]),
    "select": lambda a: lambda x: _select(x, a["dim"], a["index"]),
    "slice": lambda a: lambda x: _slice(x, a["dim"], a["start"], a["end"], a["step"]),
    "squeeze": lambda a: lambda x: _squeeze(x, a["dim"]),
    "unsqueeze": lambda a: lambda x: np.expand_dims(x, a["dim"]),
}

_WITH_PARAMETERS = {
    "batch_norm": _batch_norm,
    "layer_norm": _layer_norm,
    "prelu": _prelu,
    "constant": _constant,
}

#: The ops ``prepare`` runs (the weight ops and ``lstm`` live in ``weights`` and ``lstm``).
OPS = frozenset(_SIMPLE) | frozenset(_WITH_PARAMETERS) | {"max_pool2d"}


def prepare(node: Node, params: Parameters) -> Callable[..., tuple[np.ndarray, ...]]:
    """The function that runs ``node`` on its input arrays and returns its outputs."""
    if node.op == "max_pool2d":
        a = node.attrs
        both = len(node.outputs) == 2

        def pool(x: np.ndarray) -> tuple[np.ndarray, ...]:
            values, indices = max_pool2d(
                x, a["kernel"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"], both
            )
            return (values, indices) if both else (values,)

        return pool
    if node.op in _WITH_PARAMETERS:
        function = _WITH_PARAMETERS[node.op](node, params)
    elif node.op in _SIMPLE:
        function = _SIMPLE[node.op](node.attrs)
    else:
        raise ValueError(f"the engine cannot run op {node.describe()}")
    return lambda *inputs: (function(*inputs),)
