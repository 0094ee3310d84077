"""A compiled sparse baseline over a standard format, for the engine benchmarks (issue 12).

``BlockedCSC`` is plain CSC with float32 values and int32 row indices (8 bytes per non-zero, no
codebook, no relative indices, no filler zeros), split into row blocks the way EIE splits a matrix
over its processing elements: block ``b`` owns the output rows ``row_start[b]:row_start[b + 1]``
and keeps its own CSC of them, so that a ``prange`` over blocks has no shared outputs. Blocks are
contiguous rows balanced by non-zeros (a block's rows share cache lines of ``y`` only at its two
ends), one block per thread.

The kernels have the engine's loop structure (``deepzip.engine._kernels``), so that engine /
compiled CSC measures what the engine's 1-byte entries give at equal kernel quality:

- batch 1: the non-zero activations are listed first and only their columns are walked; the
  non-zeros of the active column ``PREFETCH_AHEAD`` ahead are prefetched (the whole column, as the
  engine prefetches its whole column); indices are uint64;
- batch: the batch is ``(cols, batch)`` with the batch contiguous and processed in tiles of
  ``BATCH_TILE`` inputs; a column whose tile of inputs is all zero is skipped; each stored
  non-zero updates one contiguous run of outputs, ``y[row, tile] += w * x[j, tile]``.

What differs is only the format: a 4-byte value and a 4-byte row per non-zero instead of a 1-byte
code and gap per entry decoded through a codebook.

The wrappers validate and allocate; ``csc_product_reference`` is the slow numpy version the tests
compare against.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

BATCH_TILE = 64
"""Inputs per batch tile (the engine's ``BATCH_TILE``)."""
PREFETCH_AHEAD = 4
"""Active columns prefetched ahead at batch 1 (the engine's value) ..."""
PREFETCH_LINES = 32
"""... at most this many 64-byte lines of each of its two arrays: 512 non-zeros, the whole column
of a block on EIE's layers, as the engine's 4 lines of 1-byte entries are for its PEs (with the
engine's 4 lines, 64 non-zeros here, the kernel ran Alex-6 2.5x slower)."""
SERIAL_WORK = 32_768
"""Below this many non-zero updates (non-zeros x batch) a product runs on the calling thread, as
the engine's products do (``deepzip.engine.product.SERIAL_WORK``)."""

_ONE = np.uint64(1)


@dataclass(frozen=True, eq=False)
class BlockedCSC:
    """A ``(rows, cols)`` float32 matrix in CSC, split into row blocks.

    Attributes:
        shape: ``(rows, cols)``.
        row_start: int64 ``(blocks + 1,)``: block ``b`` owns rows ``row_start[b]:row_start[b+1]``.
        col_ptr: int64 ``(blocks, cols + 1)``: block ``b``'s column ``j`` is
            ``values[col_ptr[b, j]:col_ptr[b, j + 1]]`` (absolute offsets).
        rows: int32 ``(nnz,)``: the global row of each non-zero, ascending within a column.
        values: float32 ``(nnz,)``.
    """

    shape: tuple[int, int]
    row_start: np.ndarray
    col_ptr: np.ndarray
    rows: np.ndarray
    values: np.ndarray

    @classmethod
    def from_csc(
        cls,
        shape: tuple[int, int],
        col_ptr: np.ndarray,
        rows: np.ndarray,
        values: np.ndarray,
        blocks: int,
    ) -> BlockedCSC:
        """Split a CSC matrix (``col_ptr`` ``(cols + 1,)``, ``rows`` ascending within a column,
        ``values``) into ``blocks`` row blocks of about equal non-zeros (more blocks than rows
        leaves some empty)."""
        n_rows, n_cols = int(shape[0]), int(shape[1])
        if blocks < 1:
            raise ValueError(f"blocks must be at least 1, got {blocks}")
        if n_rows >= 2**31:
            raise ValueError("int32 row indices need fewer than 2**31 rows")
        col_ptr = np.asarray(col_ptr, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        values = np.asarray(values, dtype=np.float32)
        if col_ptr.shape != (n_cols + 1,) or col_ptr[0] != 0 or col_ptr[-1] != rows.size:
            raise ValueError("col_ptr must be (cols + 1,), from 0 to the number of non-zeros")
        if rows.shape != values.shape or (rows.size and (rows.min() < 0 or rows.max() >= n_rows)):
            raise ValueError("rows must match values and lie in [0, rows)")
        # Row boundaries that split the non-zeros evenly.
        per_row = np.bincount(rows, minlength=n_rows)
        cumulative = np.concatenate([[0], np.cumsum(per_row)])
        targets = np.arange(1, blocks) * rows.size / blocks
        inner = np.searchsorted(cumulative, targets, side="left")
        row_start = np.concatenate([[0], np.clip(inner, 0, n_rows), [n_rows]]).astype(np.int64)
        row_start = np.maximum.accumulate(row_start)
        columns = np.repeat(np.arange(n_cols, dtype=np.int64), np.diff(col_ptr))
        block = np.searchsorted(row_start, rows, side="right") - 1
        block = np.minimum(block, blocks - 1)
        # Stable sort by block keeps column order, and row order within a column.
        order = np.argsort(block, kind="stable")
        counts = np.bincount(block * n_cols + columns, minlength=blocks * n_cols)
        blocked_ptr = np.zeros(blocks * n_cols + 1, dtype=np.int64)
        np.cumsum(counts, out=blocked_ptr[1:])
        pointers = blocked_ptr[np.arange(blocks)[:, None] * n_cols + np.arange(n_cols + 1)]
        return cls(
            shape=(n_rows, n_cols),
            row_start=row_start,
            col_ptr=np.ascontiguousarray(pointers),
            rows=np.ascontiguousarray(rows[order].astype(np.int32)),
            values=np.ascontiguousarray(values[order]),
        )

    @classmethod
    def from_dense(cls, matrix: np.ndarray, blocks: int) -> BlockedCSC:
        """The non-zeros of a dense ``(rows, cols)`` matrix."""
        matrix = np.asarray(matrix, dtype=np.float32)
        cols, rows = np.nonzero(matrix.T)
        col_ptr = np.zeros(matrix.shape[1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=matrix.shape[1]), out=col_ptr[1:])
        return cls.from_csc(matrix.shape, col_ptr, rows, matrix[rows, cols], blocks)

    @property
    def blocks(self) -> int:
        return int(self.col_ptr.shape[0])

    @property
    def nnz(self) -> int:
        return int(self.values.size)

    @property
    def resident_bytes(self) -> int:
        """Values, row indices and pointers."""
        return self.values.nbytes + self.rows.nbytes + self.col_ptr.nbytes + self.row_start.nbytes


@contextmanager
def _numba_threads(threads: int):
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _threads_for(matrix: BlockedCSC, batch: int, threads: int | None) -> int:
    if threads is not None:
        return max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    if matrix.nnz * batch < SERIAL_WORK:
        return 1
    return min(numba.get_num_threads(), matrix.blocks)


def _check(matrix: BlockedCSC, x: np.ndarray, ndim: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != ndim or x.shape[0] != matrix.shape[1] or x.dtype != np.float32:
        raise ValueError(
            f"input must be float32 with {ndim} dimension(s) and {matrix.shape[1]} rows, "
            f"got {x.dtype} {x.shape}"
        )
    return np.ascontiguousarray(x)


def csc_matvec(matrix: BlockedCSC, x: np.ndarray, threads: int | None = None) -> np.ndarray:
    """``W x`` for float32 ``x`` ``(cols,)``, walking only the columns of non-zero ``x``."""
    x = _check(matrix, x, 1)
    y = np.zeros(matrix.shape[0], dtype=np.float32)
    with _numba_threads(_threads_for(matrix, 1, threads)):
        _matvec(matrix.col_ptr, matrix.rows, matrix.values, x, y)
    return y


def csc_matmul(matrix: BlockedCSC, x: np.ndarray, threads: int | None = None) -> np.ndarray:
    """``W x`` for a float32 batch ``(cols, batch)``; returns ``(rows, batch)``."""
    x = _check(matrix, x, 2)
    y = np.zeros((matrix.shape[0], x.shape[1]), dtype=np.float32)
    with _numba_threads(_threads_for(matrix, x.shape[1], threads)):
        _matmul(matrix.col_ptr, matrix.rows, matrix.values, x, y.reshape(-1))
    return y


def csc_product_reference(matrix: BlockedCSC, x: np.ndarray) -> np.ndarray:
    """Slow float64 ``W x`` for ``x`` ``(cols,)`` or ``(cols, batch)``, block by block."""
    x = np.asarray(x, dtype=np.float64)
    y = np.zeros((matrix.shape[0], *x.shape[1:]), dtype=np.float64)
    for b in range(matrix.blocks):
        for j in range(matrix.shape[1]):
            for k in range(int(matrix.col_ptr[b, j]), int(matrix.col_ptr[b, j + 1])):
                y[int(matrix.rows[k])] += float(matrix.values[k]) * x[j]
    return y


# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------


@intrinsic
def _prefetch(typingctx, array, index):
    """``llvm.prefetch`` of ``array[index]`` (read, all cache levels), as the engine does."""
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        ary = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, ary, [args[1]], wraparound=False, boundscheck=False
        )
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0i8",
        )
        rw, locality, data_cache = ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)
        builder.call(function, [builder.bitcast(pointer, byte_pointer), rw, locality, data_cache])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)
def _active_columns(x):
    active = np.empty(x.shape[0], dtype=np.int64)
    n = 0
    for j in range(x.shape[0]):
        if x[j] != 0:
            active[n] = j
            n += 1
    return active[:n]


@njit(cache=True, inline="always")
def _prefetch_column(rows, values, col_ptr, b, active, t):
    """Prefetch block ``b``'s rows and values of the active column ``PREFETCH_AHEAD`` after
    ``t``, unless the columns in between are all active (then they are read in order)."""
    if t + PREFETCH_AHEAD < active.shape[0]:
        j = active[t + PREFETCH_AHEAD]
        if j == active[t] + PREFETCH_AHEAD:
            return
        k, end = np.uint64(col_ptr[b, j]), np.uint64(col_ptr[b, j + 1])
        line = np.uint64(16)  # 4-byte items per 64-byte line
        for _ in range(PREFETCH_LINES):
            if k < end:
                _prefetch(rows, k)
                _prefetch(values, k)
            k += line


@njit(cache=True, parallel=True)
def _matvec(col_ptr, rows, values, x, y):
    """``y += W x`` (``y`` zeroed by the caller); each block writes only its own rows."""
    blocks = col_ptr.shape[0]
    active = _active_columns(x)
    for b in prange(blocks):
        for t in range(active.shape[0]):
            _prefetch_column(rows, values, col_ptr, b, active, t)
            j = active[t]
            a = x[j]
            for k in range(np.uint64(col_ptr[b, j]), np.uint64(col_ptr[b, j + 1])):
                y[np.uint64(rows[k])] += values[k] * a


@njit(cache=True, parallel=True)
def _matmul(col_ptr, rows, values, x, y):
    """``y += W x`` for ``x`` ``(cols, batch)``; ``y`` is the flat ``(rows * batch,)`` output."""
    blocks = col_ptr.shape[0]
    cols, batch = x.shape
    for b in prange(blocks):
        xt = np.empty(BATCH_TILE, dtype=np.float32)
        for b0 in range(0, batch, BATCH_TILE):
            width = min(BATCH_TILE, batch - b0)
            m = np.uint64(width)
            for j in range(cols):
                nonzero = False
                for i in range(width):
                    v = x[j, b0 + i]
                    xt[i] = v
                    nonzero |= v != 0
                if not nonzero:
                    continue
                for k in range(np.uint64(col_ptr[b, j]), np.uint64(col_ptr[b, j + 1])):
                    at = np.uint64(rows[k]) * np.uint64(batch) + np.uint64(b0)
                    w = values[k]
                    for i in range(m):
                        y[at + i] += w * xt[i]
