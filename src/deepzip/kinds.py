"""The one registry of layer kinds (DESIGN.md): what deepzip compresses, and how.

Each kind's entry says which torch module it comes from and which of its parameters are
compressed, how such a weight is viewed as the ``(rows, cols)`` matrix that the relative index
(Deep Compression §2) and the engine (EIE §III) use, whether the compressed layer carries the bias,
and which graph op runs it (``deepzip.graph.ops``). Adding a kind touches this table and the
kernels it needs, nothing else.

The matrix view puts in one *column* the weights that one input value meets, so that the engine
skips a column when its input is zero (EIE) and an embedding lookup decodes only the columns of
the tokens it needs:

- ``linear`` ``(out, in)`` and an LSTM's ``weight_ih_l*`` / ``weight_hh_l*`` ``(4 * hidden, in)``:
  the weight itself;
- ``conv1d`` ``(out, in / groups, k)`` and ``conv2d`` ``(out, in / groups, kh, kw)``: reshaped to
  ``(out, in / groups * k...)``, C order; a group is a block of rows;
- ``conv_transpose2d`` ``(in, out / groups, kh, kw)``: reshaped to ``(in, out / groups * kh * kw)``
  and transposed, so a column is one input channel's scatter into the output; a group is a block
  of columns;
- ``embedding`` ``(num_embeddings, dim)``: transposed, so a column is one token's vector.

A compressed layer is named after its module for kinds whose weight is the module's ``weight``
(``"features.0"``), and ``<module>.<param>`` otherwise (``"rnn.weight_hh_l0"``); plain tensors
keep their state_dict names (``parameter_name``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerKind:
    """One row of the registry.

    Attributes:
        name: the kind (``"conv2d"``), as stored in ``CompressedLayer.kind``.
        code: its byte in the file's layer record (never reused once published).
        module: the ``torch.nn`` class name whose instances have this kind.
        weight_ndim: dimensions of the weight tensor.
        op: the graph op that runs it.
        has_bias: whether the compressed layer carries the module's bias (its length is the
            matrix's rows); otherwise biases stay plain tensors.
        to_matrix: the weight array (any dtype) to its ``(rows, cols)`` view (a copy where the
            view is a transpose).
        from_matrix: the inverse: a ``(rows, cols)`` array and the weight shape to the weight.
        params: the names of the module's compressed parameters, given the parameter names it has
            (``weight``; an LSTM's ``weight_ih_l0``, ``weight_hh_l0``, ...).
    """

    name: str
    code: int
    module: str
    weight_ndim: int
    op: str
    has_bias: bool
    to_matrix: Callable[[np.ndarray], np.ndarray]
    from_matrix: Callable[[np.ndarray, tuple[int, ...]], np.ndarray]
    params: Callable[[list[str]], list[str]]

    def matrix_shape(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """``(rows, cols)`` of the matrix view of a weight of ``shape``."""
        if len(shape) != self.weight_ndim:
            raise ValueError(f"a {self.name} weight has {self.weight_ndim} dimensions, got {shape}")
        rows, cols = self.to_matrix(np.empty(shape, dtype=np.uint8)).shape
        return int(rows), int(cols)


def _rows_first(weight: np.ndarray) -> np.ndarray:
    return weight.reshape(weight.shape[0], math.prod(weight.shape[1:]))  # -1 fails for 0 rows


def _rows_first_inverse(matrix: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return matrix.reshape(shape)


def _transposed(weight: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(_rows_first(weight).T)


def _transposed_inverse(matrix: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(matrix.T).reshape(shape)


def _weight_only(names: list[str]) -> list[str]:
    return ["weight"] if "weight" in names else []


_LSTM_WEIGHT = re.compile(r"weight_(ih|hh)_l\d+(_reverse)?")


def _lstm_weights(names: list[str]) -> list[str]:
    return [n for n in names if _LSTM_WEIGHT.fullmatch(n)]


_TABLE = [
    LayerKind("linear", 0, "Linear", 2, "linear", True, _rows_first, _rows_first_inverse,
              _weight_only),
    LayerKind("conv2d", 1, "Conv2d", 4, "conv2d", True, _rows_first, _rows_first_inverse,
              _weight_only),
    LayerKind("conv1d", 2, "Conv1d", 3, "conv1d", True, _rows_first, _rows_first_inverse,
              _weight_only),
    LayerKind("conv_transpose2d", 3, "ConvTranspose2d", 4, "conv_transpose2d", False,
              _transposed, _transposed_inverse, _weight_only),
    LayerKind("embedding", 4, "Embedding", 2, "embedding", False, _transposed,
              _transposed_inverse, _weight_only),
    LayerKind("lstm", 5, "LSTM", 2, "lstm", False, _rows_first, _rows_first_inverse,
              _lstm_weights),
]  # fmt: skip

KINDS: dict[str, LayerKind] = {kind.name: kind for kind in _TABLE}
KINDS_BY_CODE: dict[int, LayerKind] = {kind.code: kind for kind in _TABLE}
LAYER_KINDS = tuple(KINDS)


def kind(name: str) -> LayerKind:
    """The registry entry for ``name``; a ValueError names the known kinds."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"layer kind {name!r} is not one of {LAYER_KINDS}") from None


def layer_name(module: str, param: str) -> str:
    """The compressed layer's name for ``module``'s parameter ``param``."""
    return module if param == "weight" else f"{module}.{param}"


def parameter_name(module: str, param: str) -> str:
    """The state_dict name of ``module``'s parameter ``param`` (a plain tensor's name)."""
    return f"{module}.{param}" if module else param
