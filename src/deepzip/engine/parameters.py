"""Where a graph node's parameters come from: compressed layers or plain tensors (DESIGN.md).

A node's ``layer`` names a module; its parameter ``param`` is the compressed layer
``kinds.layer_name(module, param)`` when the model has one, else the plain float32 tensor
``kinds.parameter_name(module, param)``. A compressed linear/conv layer's bias is its own bias when
set, else the tensor ``<module>.bias``.

A weight is used through its kind's ``(rows, cols)`` matrix view (``deepzip.kinds``), split into
blocks for grouped convolutions: a compressed layer becomes one EIE layout (``EngineLayer``) per
block, built from its kept weights only; a plain tensor a dense float32 matrix. ``product`` runs
either on a batch of columns; ``product_fixed16`` does the same in EIE's 16-bit fixed point.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from deepzip import kinds
from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.engine.layout import EngineLayer
from deepzip.engine.product import (
    sparse_matmul,
    sparse_matmul_fixed16,
    sparse_matvec,
    sparse_matvec_fixed16,
)


@dataclass(frozen=True, eq=False)
class DenseMatrix:
    """A plain (uncompressed) weight's matrix view or a block of it: float32 ``(rows, cols)``,
    and the bias of its rows."""

    name: str
    weight: np.ndarray
    bias: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.weight.shape)


Part = EngineLayer | DenseMatrix


class Parameters:
    """Resolves nodes' parameters in a ``CompressedModel`` and builds their matrix blocks once
    (``layouts``: every compressed layer's EIE layouts, one per block).

    ``model`` may also be an opened file (``deepzip.container.DzipFile``, what ``Engine.load``
    passes), whose ``layer(name)`` decodes a layer on each call: then only the layer in use is
    held (``compressed`` drops the previous one before decoding the next, ``release`` the last),
    so building the layouts holds one layer's kept weights at a time.
    """

    def __init__(self, model: CompressedModel, pes: int) -> None:
        self.model = model
        self.pes = pes
        if isinstance(model, CompressedModel):
            layers = {layer.name: layer for layer in model.layers}
            self._names, self._layer = frozenset(layers), layers.__getitem__
        else:
            self._names, self._layer = frozenset(model.layer_names), model.layer
        self._last: CompressedLayer | None = None
        self.layouts: dict[str, list[EngineLayer]] = {}
        self._parts: dict[tuple[str, str, int, int, str], list[Part]] = {}

    def compressed(self, module: str, param: str) -> CompressedLayer | None:
        name = kinds.layer_name(module, param)
        if name not in self._names:
            return None
        if self._last is None or self._last.name != name:
            self._last = None  # the previous layer goes before the next is decoded
            self._last = self._layer(name)
        return self._last

    def release(self) -> None:
        """Drop the layer ``compressed`` last returned (its layouts stay in ``layouts``)."""
        self._last = None

    def tensor(self, module: str, param: str, required: bool = True) -> np.ndarray | None:
        """The plain tensor ``<module>.<param>`` as float32 (None when absent and not required)."""
        name = kinds.parameter_name(module, param)
        value = self.model.tensors.get(name)
        if value is None:
            if self.compressed(module, param) is not None:
                raise ValueError(
                    f"{name} is a compressed layer; the engine runs compressed weights only "
                    "through their layer's op, never as a dense tensor"
                )
            if required:
                raise ValueError(f"the model has no tensor {name!r}")
            return None
        return np.asarray(value, dtype=np.float32)

    def weight_shape(self, module: str, param: str) -> tuple[int, ...]:
        layer = self.compressed(module, param)
        if layer is not None:
            return tuple(layer.weight_shape)
        return tuple(self.tensor(module, param).shape)

    def matrix(
        self, module: str, param: str, kind: str, blocks: int = 1, axis: int = 0
    ) -> list[Part]:
        """The matrix view of ``module``'s ``param`` (a weight of ``kind``) in ``blocks`` equal
        blocks of rows (``axis`` 0) or columns (``axis`` 1), biases attached to row blocks."""
        key = (module, param, blocks, axis, kind)
        if key in self._parts:
            return self._parts[key]
        spec = kinds.kind(kind)
        layer = self.compressed(module, param)
        name = kinds.layer_name(module, param)
        if layer is not None:
            if layer.kind != kind:
                raise ValueError(f"a {kind} op runs {layer.kind} layer {name!r}")
            rows, cols = layer.matrix_shape
        else:
            weight = self.tensor(module, param)
            if weight.ndim != spec.weight_ndim:
                raise ValueError(
                    f"{kinds.parameter_name(module, param)}: a {kind} weight has "
                    f"{spec.weight_ndim} dimensions, got shape {weight.shape}"
                )
            matrix = spec.to_matrix(weight)
            rows, cols = matrix.shape
        size = (rows, cols)[axis]
        if blocks < 1 or size % blocks:
            raise ValueError(
                f"{name}: {size} {('rows', 'columns')[axis]} do not split into {blocks}"
            )
        bias = None
        if spec.has_bias and param == "weight":
            bias = layer.bias if layer is not None else None
            if bias is None:
                bias = self.tensor(module, "bias", required=False)
            if bias is not None and bias.shape != (rows,):
                raise ValueError(f"{module}.bias: shape {bias.shape}, expected ({rows},)")
        step = size // blocks
        parts: list[Part] = []
        for b in range(blocks):
            part = slice(b * step, (b + 1) * step)
            rows_part = part if axis == 0 else slice(0, rows)
            block_bias = None if bias is None else np.ascontiguousarray(bias[rows_part])
            if layer is not None:
                rows_arg = part if axis == 0 and blocks > 1 else None
                cols_arg = part if axis == 1 and blocks > 1 else None
                layout = EngineLayer.from_compressed(layer, self.pes, rows_arg, cols_arg)
                if layer.bias is None and block_bias is not None:  # the bias is a plain tensor
                    layout = dataclasses.replace(layout, bias=block_bias)
                parts.append(layout)
            else:
                block = matrix[rows_part] if axis == 0 else matrix[:, part]
                parts.append(DenseMatrix(name, np.ascontiguousarray(block), block_bias))
        if layer is not None:
            self.layouts.setdefault(name, parts)
        self._parts[key] = parts
        return parts


def product(part: Part, columns: np.ndarray, relu: bool = False) -> np.ndarray:
    """``act(W columns + bias)``: float32 ``(rows, m)`` for float32 ``columns`` ``(cols, m)``."""
    if isinstance(part, DenseMatrix):
        y = part.weight @ columns
        if part.bias is not None:
            y += part.bias[:, None]
        return np.maximum(y, 0, out=y) if relu else y
    columns = np.ascontiguousarray(columns, dtype=np.float32)
    if columns.shape[1] == 1:
        return sparse_matvec(part, columns[:, 0], relu)[:, None]
    return sparse_matmul(part, columns, relu)


def product_fixed16(
    part: Part, weights: np.ndarray, columns: np.ndarray, scales: np.ndarray, relu: bool
) -> np.ndarray:
    """Integer ``act(Wq columns + round(bias * scales))``, int64 ``(rows, m)``.

    ``weights``: the int16 codebook of a compressed part, or the int16 weight of a dense one;
    ``columns`` int16 ``(cols, m)``; ``scales`` float64 ``(m,)``, each column's accumulator scale.
    """
    columns = np.ascontiguousarray(columns)
    if isinstance(part, DenseMatrix):
        # Integer products summed in float64 are exact below 2**53 (int16 x int16 < 2**30).
        y = np.rint(weights.astype(np.float64) @ columns.astype(np.float64)).astype(np.int64)
        if part.bias is not None:
            y += np.floor(np.multiply.outer(part.bias, scales) + 0.5).astype(np.int64)
        return np.maximum(y, 0) if relu else y
    if columns.shape[1] == 1:
        return sparse_matvec_fixed16(part, weights, columns[:, 0], scales[0], relu)[:, None]
    return sparse_matmul_fixed16(part, weights, columns, scales, relu)
