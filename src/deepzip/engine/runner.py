"""The model runner: a whole stored network run straight from its compressed layers (EIE).

``Engine`` walks a ``CompressedModel``'s network ops in order:

- ``linear`` on a compressed layer: the sparse product over the EIE layout (``product``), with the
  bias and a following ReLU fused into the kernel's epilogue; batch 1 takes the vector kernel,
  which skips zero activations one by one, a batch the batch kernel, which skips inputs that are
  zero across a tile of the batch.
- ``conv2d`` on a compressed layer: **im2col over the compressed weights**. The input's patches
  ``(in * kh * kw, out_h * out_w * batch)`` are the columns of a sparse batch product with the
  layer's ``(out, in * kh * kw)`` matrix, so a convolution runs through the same kernel as a fully
  connected layer and its weights are never decoded into a dense tensor (zero patch values, such
  as a ReLU's, are skipped per tile). Grouped convolutions get one layout per group.
- ``linear`` / ``conv2d`` on a plain (uncompressed) tensor of the model: a dense numpy product.
- ``relu``, ``maxpool2d``, ``avgpool2d``, ``flatten``, ``dropout`` (the identity): numpy.

Activations are kept batch-last, ``(features, batch)`` or ``(C, H, W, batch)``, which is the
kernels' layout; ``run`` takes and returns the usual batch-first arrays.

``arithmetic="fixed16"`` runs the network in EIE's 16-bit fixed point (see ``fixed_point``):
int16 codebooks, weights and activations, exact int64 sums, one rounding per layer output.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepzip.compressed import CompressedLayer, CompressedModel, NetworkOp
from deepzip.engine import fixed_point as fx
from deepzip.engine.layout import EngineLayer, default_pes
from deepzip.engine.product import (
    sparse_matmul,
    sparse_matmul_fixed16,
    sparse_matvec,
    sparse_matvec_fixed16,
)
from deepzip.engine.spatial import im2col, pool2d

ARITHMETICS = ("float32", "fixed16")


@dataclass(frozen=True)
class LayerMemory:
    """Resident bytes of one engine layer against the issue's bound.

    ``bound_bytes`` = 1.25 x (entries x 1 byte + pointers + codebook), the issue's bound for
    packed layouts (4-bit codes and indices); a split layout stores more than a byte per entry.
    """

    name: str
    shape: tuple[int, int]
    pes: int
    packed: bool
    entries: int
    fillers: int
    resident_bytes: int
    bound_bytes: float

    @property
    def within_bound(self) -> bool:
        return self.resident_bytes <= self.bound_bytes


@dataclass(frozen=True)
class _Dense:
    """A plain (uncompressed) weight: float32 ``(out, in * kh * kw)`` per group, and its bias."""

    weight: np.ndarray
    bias: np.ndarray | None


@dataclass
class _Step:
    op: NetworkOp
    relu: bool = False  # a following ReLU fused into this linear / conv2d


class _Fixed:
    """A fixed-point activation: integers (int16, or int64 sums) and fractional bits per sample."""

    def __init__(self, q: np.ndarray, f: np.ndarray) -> None:
        self.q, self.f = q, f

    def int16(self, max_frac: int) -> tuple[np.ndarray, np.ndarray]:
        """int16 values with at most ``max_frac`` fractional bits (a layer's input)."""
        if self.q.dtype != np.int16 or np.any(self.f > max_frac):
            self.q, self.f = fx.requantize(self.q, self.f, max_frac)
        return self.q, self.f


def _plan(network: list[NetworkOp]) -> list[_Step]:
    steps: list[_Step] = []
    for op in network:
        if op.kind == "dropout":
            continue
        if op.kind == "relu" and steps and steps[-1].op.layer is not None and not steps[-1].relu:
            steps[-1].relu = True
            continue
        steps.append(_Step(op))
    return steps


class Engine:
    """Run a compressed network from its compressed layers.

    Args:
        model: the CompressedModel (with a network description).
        pes: processing elements per layer (default: numba's thread count).
        arithmetic: ``"float32"`` (default) or ``"fixed16"``.
        max_batch: inputs processed per pass; ``run`` splits larger inputs.
    """

    def __init__(
        self,
        model: CompressedModel,
        pes: int | None = None,
        arithmetic: str = "float32",
        max_batch: int = 1024,
    ) -> None:
        if model.network is None:
            raise ValueError("the model has no network description; it cannot be run")
        if arithmetic not in ARITHMETICS:
            raise ValueError(f"arithmetic must be one of {ARITHMETICS}, got {arithmetic!r}")
        self.model = model
        self.pes = default_pes() if pes is None else int(pes)
        self.arithmetic = arithmetic
        self.max_batch = int(max_batch)
        self._steps = _plan(model.network)
        # Per weight op: a list with one EngineLayer (or _Dense) per convolution group.
        self.layers: dict[str, list[EngineLayer]] = {}
        self._dense: dict[str, list[_Dense]] = {}
        by_name = {layer.name: layer for layer in model.layers}
        for op in model.network:
            if op.layer is None or op.layer in self.layers or op.layer in self._dense:
                continue
            groups = op.params[6] if op.kind == "conv2d" else 1
            compressed = by_name.get(op.layer)
            if compressed is not None:
                self.layers[op.layer] = self._build_layer(op, compressed, groups)
            else:
                self._dense[op.layer] = self._build_dense(op, groups)
        # fixed16: per weight op, the int16 codebook (compressed) or weight (plain) of each part
        # and the fractional bits they share.
        self._fixed: dict[str, tuple[list[np.ndarray], int]] = {}
        if arithmetic == "fixed16":
            for name, parts in self.layers.items():
                codebook, frac = fx.quantize_weights(parts[0].codebook)  # groups share it
                self._fixed[name] = ([codebook] * len(parts), frac)
            for name, dense in self._dense.items():
                _, frac = fx.quantize_weights(np.concatenate([d.weight.ravel() for d in dense]))
                scale = 2.0**frac
                self._fixed[name] = (
                    [np.rint(d.weight * scale).astype(np.int16) for d in dense],
                    frac,
                )

    @classmethod
    def load(cls, path: str | Path, **kwargs) -> Engine:
        """An engine for the .dzip file at ``path`` (keyword arguments as for ``Engine``)."""
        from deepzip.container import read_dzip

        return cls(read_dzip(path), **kwargs)

    # -- construction ---------------------------------------------------------------------------

    def _bias_override(self, name: str, bias: np.ndarray | None) -> np.ndarray | None:
        extra = self.model.tensors.get(f"{name}.bias")
        return bias if extra is None else np.asarray(extra, dtype=np.float32)

    def _build_layer(self, op: NetworkOp, layer: CompressedLayer, groups: int) -> list[EngineLayer]:
        if layer.kind != op.kind:
            raise ValueError(f"network op {op.kind} refers to {layer.kind} layer {layer.name!r}")
        bias = self._bias_override(layer.name, layer.bias)
        if bias is not layer.bias:
            layer = dataclasses.replace(layer, bias=bias)
        out = layer.codes.shape[0]
        if out % groups:
            raise ValueError(f"layer {layer.name!r}: {out} outputs do not split into {groups}")
        size = out // groups
        if groups == 1:
            return [EngineLayer.from_compressed(layer, self.pes)]
        return [
            EngineLayer.from_compressed(layer, self.pes, slice(g * size, (g + 1) * size))
            for g in range(groups)
        ]

    def _build_dense(self, op: NetworkOp, groups: int) -> list[_Dense]:
        weight = np.asarray(self.model.tensors[f"{op.layer}.weight"], dtype=np.float32)
        expected = 2 if op.kind == "linear" else 4
        if weight.ndim != expected:
            raise ValueError(f"{op.layer}.weight: a {op.kind} weight must have {expected} dims")
        bias = self._bias_override(op.layer, None)
        out = weight.shape[0]
        if out % groups:
            raise ValueError(f"layer {op.layer!r}: {out} outputs do not split into {groups}")
        size = out // groups
        return [
            _Dense(
                np.ascontiguousarray(weight[g * size : (g + 1) * size].reshape(size, -1)),
                None if bias is None else bias[g * size : (g + 1) * size],
            )
            for g in range(groups)
        ]

    # -- memory ---------------------------------------------------------------------------------

    def layer_bytes(self) -> list[LayerMemory]:
        """Resident bytes of every compressed layer's layout (one row per convolution group)."""
        rows = []
        for parts in self.layers.values():
            for part in parts:
                memory = LayerMemory(
                    part.name, part.shape, part.pes, part.packed, part.n_entries,
                    part.n_fillers, part.resident_bytes, part.memory_bound_bytes,
                )  # fmt: skip
                rows.append(memory)
        return rows

    # -- running --------------------------------------------------------------------------------

    def run(self, x: np.ndarray) -> np.ndarray:
        """The network's output, float32 ``(N, ...)``, for ``x`` ``(N, ...)`` (batch first)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim < 2:
            raise ValueError(f"input must be (N, ...) with a batch dimension, got shape {x.shape}")
        if x.shape[0] == 0:
            raise ValueError("input has no samples")
        outputs = [
            self._run_batch(x[i : i + self.max_batch]) for i in range(0, len(x), self.max_batch)
        ]
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    def classify(self, x: np.ndarray, batch: int | None = None) -> np.ndarray:
        """Predicted classes (int64 ``(N,)``): the argmax of ``run``, ``batch`` inputs per call
        (as an application would feed them; default ``max_batch``)."""
        step = batch or self.max_batch
        if step < 1:
            raise ValueError(f"batch must be >= 1, got {step}")
        return np.concatenate(
            [self.run(x[i : i + step]).argmax(axis=1) for i in range(0, len(x), step)]
        )

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        state = np.ascontiguousarray(np.moveaxis(x, 0, -1))
        if self.arithmetic == "fixed16":
            state = _Fixed(*fx.quantize_activations(state))
        for step in self._steps:
            state = self._apply(step, state)
        if isinstance(state, _Fixed):
            state = fx.dequantize(state.q, state.f)
        return np.ascontiguousarray(np.moveaxis(state, -1, 0))

    def _apply(self, step: _Step, state):
        op = step.op
        if op.kind in ("linear", "conv2d"):
            return self._weight_op(step, state)
        values = state.q if isinstance(state, _Fixed) else state
        if op.kind == "relu":
            values = np.maximum(values, 0)
        elif op.kind in ("maxpool2d", "avgpool2d"):
            kh, kw, sh, sw, ph, pw = op.params
            if values.ndim < 4:
                raise ValueError(f"{op.kind} needs (C, H, W) inputs, got {values.ndim - 1} dims")
            values = pool2d(values, op.kind, (kh, kw), (sh, sw), (ph, pw))
        elif op.kind == "flatten":
            values = _flatten(values, *op.params)
        else:
            raise ValueError(f"cannot run network op {op.kind!r}")
        if isinstance(state, _Fixed):
            return _Fixed(values, state.f)
        return values

    def _weight_op(self, step: _Step, state):
        op = step.op
        parts = self.layers.get(op.layer) or self._dense[op.layer]
        fixed = isinstance(state, _Fixed)
        if fixed:
            limit = fx.ACCUMULATOR_FRACTIONAL_BITS - self._fixed[op.layer][1]
            values, frac = state.int16(limit)
        else:
            values, frac = state, None
        batch = values.shape[-1]
        if op.kind == "linear":
            if values.ndim == 2:  # (features, batch): the kernels' layout already
                y = self._product(op.layer, 0, values, step.relu, frac, 1)
            else:
                # torch's Linear acts on the last feature axis, here the one before the batch.
                moved = np.moveaxis(values, -2, 0)
                columns = np.ascontiguousarray(moved.reshape(moved.shape[0], -1))
                y = self._product(op.layer, 0, columns, step.relu, frac, columns.shape[1] // batch)
                y = np.moveaxis(y.reshape(-1, *moved.shape[1:]), 0, -2)
        else:
            if values.ndim != 4:
                raise ValueError(f"conv2d {op.layer!r} needs (C, H, W) inputs")
            sh, sw, ph, pw, dh, dw, groups = op.params
            kernel = self._kernel_size(op.layer)
            channels = values.shape[0] // groups
            outputs = []
            for g in range(len(parts)):
                patches, (oh, ow) = im2col(
                    values[g * channels : (g + 1) * channels], kernel, (sh, sw), (ph, pw), (dh, dw)
                )
                y = self._product(op.layer, g, patches, step.relu, frac, oh * ow)
                outputs.append(y.reshape(-1, oh, ow, batch))
            y = outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
        if fixed:
            return _Fixed(y, frac + self._fixed[op.layer][1])
        return y

    def _kernel_size(self, name: str) -> tuple[int, int]:
        if name in self.layers:
            shape = self.model.layer(name).weight_shape
        else:
            shape = self.model.tensors[f"{name}.weight"].shape
        return int(shape[2]), int(shape[3])

    def _product(
        self, name: str, group: int, columns: np.ndarray, relu: bool, frac, positions: int
    ) -> np.ndarray:
        """``act(W columns + bias)`` for one weight op's ``group``.

        ``columns`` is ``(cols, positions * batch)``, the batch fastest. Fixed point: ``columns``
        int16 in the formats ``frac`` (per sample); returns the int64 sums.
        """
        part = self.layers[name][group] if name in self.layers else self._dense[name][group]
        if frac is None:
            if isinstance(part, _Dense):
                y = part.weight @ columns
                if part.bias is not None:
                    y += part.bias[:, None]
                return np.maximum(y, 0, out=y) if relu else y
            if columns.shape[1] == 1:
                return sparse_matvec(part, columns[:, 0], relu)[:, None]
            return sparse_matmul(part, columns, relu)
        weights, weight_frac = self._fixed[name]
        scales = np.tile(fx.bias_scales(weight_frac, frac), positions)
        if isinstance(part, _Dense):
            # Integer products summed in float64 are exact below 2**53 (int16 x int16 < 2**30).
            y = weights[group].astype(np.float64) @ columns.astype(np.float64)
            y = np.rint(y).astype(np.int64)
            if part.bias is not None:
                y += np.floor(np.multiply.outer(part.bias, scales) + 0.5).astype(np.int64)
            return np.maximum(y, 0) if relu else y
        if columns.shape[1] == 1:
            y = sparse_matvec_fixed16(part, weights[group], columns[:, 0], scales[0], relu)
            return y[:, None]
        return sparse_matmul_fixed16(part, weights[group], columns, scales, relu)


def _flatten(values: np.ndarray, start_dim: int, end_dim: int) -> np.ndarray:
    """torch's ``flatten(start_dim, end_dim)`` on a batch-last array (torch dim 0 is the batch)."""
    ndim = values.ndim
    start, end = start_dim % ndim, end_dim % ndim
    if start == 0 or end == 0:
        raise ValueError("flattening the batch dimension is not supported")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} is after end_dim {end_dim}")
    per_sample = values.shape[:-1]
    s, e = start - 1, end - 1  # per-sample axes
    shape = (*per_sample[:s], math.prod(per_sample[s : e + 1]), *per_sample[e + 1 :])
    return values.reshape(*shape, values.shape[-1])
