"""Random compressed layers, one-op graphs and comparisons for the engine tests."""

from __future__ import annotations

import numpy as np

from deepzip import kinds
from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.graph import Graph, GraphInput, Node

RTOL = 1e-4  # relative to the largest output magnitude (issue 10's bound for float32)


def make_layer(
    name: str,
    kind: str,
    codebook: np.ndarray,
    codes: np.ndarray,
    bias: np.ndarray | None = None,
    weight_bits: int = 4,
    index_bits: int = 4,
) -> CompressedLayer:
    """The one place the tests build a CompressedLayer from dense codes (weight-shaped)."""
    return CompressedLayer(name, kind, codebook, codes, codes != 0, bias, weight_bits, index_bits)


def dense_matrix(layer: CompressedLayer) -> np.ndarray:
    """The dequantized matrix view of a compressed layer (float32 ``(rows, cols)``)."""
    return layer.codebook[layer.matrix_codes()]


def random_layer(
    rng: np.random.Generator,
    rows: int,
    cols: int,
    density: float,
    weight_bits: int = 4,
    index_bits: int = 4,
    bias: bool = True,
    empty_columns: int = 0,
) -> CompressedLayer:
    """A pruned, weight-shared ``(rows, cols)`` layer: code 0 is zero, kept weights have codes >= 1.

    ``empty_columns`` of the columns (the first ones) keep no weight at all.
    """
    mask = rng.random((rows, cols)) < density
    mask[:, :empty_columns] = False
    n_codes = min(2**weight_bits, 300)
    codes = np.zeros((rows, cols), dtype=np.uint8 if weight_bits <= 8 else np.uint16)
    codes[mask] = rng.integers(1, n_codes, int(mask.sum()))
    codebook = np.concatenate([[0.0], rng.normal(0.0, 1.0, n_codes - 1)]).astype(np.float32)
    bias_values = rng.normal(0.0, 1.0, rows).astype(np.float32) if bias else None
    return make_layer("layer", "linear", codebook, codes, bias_values, weight_bits, index_bits)


def random_weight(
    rng: np.random.Generator,
    name: str,
    kind: str,
    shape: tuple[int, ...],
    density: float = 0.5,
    bias: bool = False,
    weight_bits: int = 4,
) -> tuple[CompressedLayer, np.ndarray]:
    """A compressed layer of ``kind`` with a weight of ``shape``, and its dequantized weight."""
    n_codes = 2**weight_bits
    mask = rng.random(shape) < density
    codes = np.zeros(shape, dtype=np.uint8)
    codes[mask] = rng.integers(1, n_codes, int(mask.sum()))
    codebook = np.concatenate([[0.0], rng.normal(0.0, 0.5, n_codes - 1)]).astype(np.float32)
    rows = kinds.kind(kind).matrix_shape(shape)[0]
    bias_values = rng.normal(0.0, 1.0, rows).astype(np.float32) if bias else None
    layer = make_layer(name, kind, codebook, codes, bias_values, weight_bits, 4)
    return layer, codebook[codes]


def sparse_input(rng: np.random.Generator, shape: tuple[int, ...], density: float) -> np.ndarray:
    """float32 activations with about ``density`` non-zeros, some negative."""
    values = rng.normal(0.0, 1.0, shape)
    return np.where(rng.random(shape) < density, values, 0.0).astype(np.float32)


def one_op_model(
    op: str,
    attrs: dict,
    inputs: list[np.ndarray],
    layer: str | None = None,
    layers: list[CompressedLayer] = (),
    tensors: dict[str, np.ndarray] | None = None,
    outputs: int = 1,
) -> CompressedModel:
    """A model whose network applies one ``op`` to graph inputs shaped like ``inputs``."""
    specs = tuple(
        GraphInput(
            f"x{i}", "int64" if np.issubdtype(x.dtype, np.integer) else "float32", x.shape[1:]
        )
        for i, x in enumerate(inputs)
    )
    names = tuple(f"y{i}" for i in range(outputs))
    node = Node(op, tuple(s.name for s in specs), names, layer, dict(attrs))
    return CompressedModel(list(layers), Graph(specs, (node,), names), dict(tensors or {}))


def assert_close(got: np.ndarray, want, rtol: float = RTOL) -> None:
    """``got`` equals ``want`` (an array or tensor) within ``rtol`` of the largest finite magnitude,
    and exactly where ``want`` is not finite."""
    want = np.asarray(want.detach().numpy() if hasattr(want, "detach") else want)
    assert got.shape == want.shape, (got.shape, want.shape)
    finite = np.isfinite(want)  # inf and nan (a pooling window with nothing inside) must match
    np.testing.assert_array_equal(got[~finite], want[~finite])
    got, want = got[finite], want[finite]
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-6)
    error = float(np.abs(got.astype(np.float64) - want).max(initial=0.0))
    assert error <= rtol * scale, f"max error {error} > {rtol} x {scale}"
