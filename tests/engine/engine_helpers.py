"""Random compressed layers of awkward sizes for the engine tests."""

from __future__ import annotations

import numpy as np

from deepzip.compressed import CompressedLayer


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
    return CompressedLayer(
        "layer",
        "linear",
        codebook,
        codes,
        mask,
        rng.normal(0.0, 1.0, rows).astype(np.float32) if bias else None,
        weight_bits,
        index_bits,
    )


def sparse_input(rng: np.random.Generator, shape: tuple[int, ...], density: float) -> np.ndarray:
    """float32 activations with about ``density`` non-zeros, some negative."""
    values = rng.normal(0.0, 1.0, shape)
    return np.where(rng.random(shape) < density, values, 0.0).astype(np.float32)
