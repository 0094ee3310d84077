"""The compiled CSC baseline of the engine benchmarks (benchmarks/_baselines.py) against its slow
reference and dense numpy, on awkward shapes. No timings here."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _baselines import (
    BATCH_TILE,
    BlockedCSC,
    csc_matmul,
    csc_matvec,
    csc_product_reference,
)

SHAPES = [
    (1, 1),
    (1, 7),  # one row
    (7, 1),
    (0, 5),  # no rows
    (5, 0),  # no columns
    (3, 2),  # more blocks than rows below
    (33, 17),
    (64, 129),
]


def _matrix(rng, shape, density=0.3, empty_columns=True):
    w = np.where(rng.random(shape) < density, rng.standard_normal(shape), 0.0).astype(np.float32)
    if empty_columns and shape[1] > 2:
        w[:, 1::3] = 0.0  # whole empty columns
    return w


def _input(rng, cols, density, batch=None):
    shape = (cols,) if batch is None else (cols, batch)
    return np.where(rng.random(shape) < density, rng.random(shape), 0.0).astype(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("blocks", [1, 2, 5])
@pytest.mark.parametrize("threads", [1, 2])
def test_matvec_matches_reference_and_dense(shape, blocks, threads):
    rng = np.random.default_rng(hash((shape, blocks)) % 2**32)
    w = _matrix(rng, shape)
    m = BlockedCSC.from_dense(w, blocks)
    for density in (0.0, 0.4, 1.0):  # all-zero input, some zeros, no zeros
        x = _input(rng, shape[1], density)
        want = w.astype(np.float64) @ x
        np.testing.assert_allclose(csc_product_reference(m, x), want, rtol=1e-6, atol=1e-6)
        got = csc_matvec(m, x, threads=threads)
        assert got.dtype == np.float32 and got.shape == (shape[0],)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("batch", [1, 3, BATCH_TILE, BATCH_TILE + 5])
def test_matmul_matches_reference_and_dense(shape, batch):
    rng = np.random.default_rng(batch)
    w = _matrix(rng, shape)
    m = BlockedCSC.from_dense(w, 2)
    for density in (0.0, 0.2, 1.0):
        x = _input(rng, shape[1], density, batch)
        want = w.astype(np.float64) @ x
        np.testing.assert_allclose(csc_product_reference(m, x), want, rtol=1e-6, atol=1e-6)
        for threads in (1, 2):
            got = csc_matmul(m, x, threads=threads)
            assert got.shape == (shape[0], batch)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_blocks_own_contiguous_rows_and_balance_non_zeros():
    rng = np.random.default_rng(0)
    w = _matrix(rng, (200, 50), empty_columns=False)
    m = BlockedCSC.from_dense(w, 4)
    assert m.row_start[0] == 0 and m.row_start[-1] == 200
    assert np.all(np.diff(m.row_start) >= 0)
    per_block = m.col_ptr[:, -1] - m.col_ptr[:, 0]
    assert per_block.sum() == m.nnz == np.count_nonzero(w)
    assert per_block.max() - per_block.min() <= 0.1 * m.nnz
    for b in range(m.blocks):
        rows = m.rows[m.col_ptr[b, 0] : m.col_ptr[b, -1]]
        assert np.all((rows >= m.row_start[b]) & (rows < m.row_start[b + 1]))
    assert m.rows.dtype == np.int32 and m.values.dtype == np.float32


def test_more_blocks_than_rows_leaves_empty_blocks():
    w = np.array([[1.0, 0.0, 2.0]], dtype=np.float32)
    m = BlockedCSC.from_dense(w, 4)
    assert m.blocks == 4 and m.nnz == 2
    np.testing.assert_allclose(csc_matvec(m, np.ones(3, np.float32)), [3.0])


def test_bad_input_is_refused():
    m = BlockedCSC.from_dense(np.eye(3, dtype=np.float32), 2)
    with pytest.raises(ValueError, match="float32"):
        csc_matvec(m, np.ones(3))
    with pytest.raises(ValueError, match="3 rows"):
        csc_matmul(m, np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="blocks"):
        BlockedCSC.from_dense(np.eye(3, dtype=np.float32), 0)
