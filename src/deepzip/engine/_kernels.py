"""Numba kernels of the EIE-style engine (Han et al. 2016, EIE §III).

Every kernel works on the layout of ``layout.EngineLayer``: the rows of a weight matrix are
interleaved over ``pes`` processing elements (row ``r`` belongs to PE ``r % pes``, where it is
local row ``r // pes``), and each PE keeps its part in CSC order with relative row indices and
filler zeros. All PEs' entries lie in one flat array; ``col_ptr`` (``(pes, cols + 1)``, int32 or
int64) holds absolute offsets into it, so PE ``p``'s column ``j`` is
``entries[col_ptr[p, j]:col_ptr[p, j + 1]]``.

An entry is either *packed*, one uint8 holding the cluster code in its low ``code_bits`` bits and
the relative index (gap) above them (EIE's 4-bit code + 4-bit index byte), or *split* over two
arrays, ``codes`` (uint8 or uint16) and ``gaps`` (uint8). The split kernels read
``codes[k] & code_mask`` and ``gaps[k] >> gap_shift``, so they also run a packed layout when given
the packed array twice (``code_mask = 2**code_bits - 1``, ``gap_shift = code_bits``). The float32
batch-1 product, the hot path, has a dedicated packed kernel; in a batch an entry's cost is its
row update, not the extra byte load.

What every kernel does, as EIE does it in hardware:

- only columns whose input activation is non-zero are visited (for a batch: non-zero for some
  input of a tile of the batch);
- within a column only stored entries are touched: the PE's local row advances by ``gap + 1`` per
  entry, and the weight is decoded through the codebook, whose code 0 is the exact zero, so filler
  zeros add nothing (batch-1 kernels add ``0.0`` rather than branch on them; batch kernels first
  decode a column into a list of (row, weight) without its fillers, branch-free, then update one
  row of the batch per listed entry, since there an entry costs a whole row);
- each PE accumulates its own rows in its own buffer, so the ``prange`` over PEs has no shared
  outputs; then the bias is added, the fused ReLU applied and the PEs' rows are interleaved into
  ``y`` (batch 1: after the ``prange``, since PEs writing interleaved rows of one vector would
  fight over its cache lines; batch: each PE writes whole rows of ``y``).

Indices inside the loops are uint64: numba checks signed indices for negative wraparound, which
costs about a quarter of the batch-1 inner loop. The helpers are inlined (``inline="always"``);
left as calls, their array arguments cost more per column than a short column's entries. The
batch-1 float32 kernels multiply the codebook by the column's activation once per column (EIE's PE
multiplies per entry; here a table of at most ``2**code_bits`` products saves it) and prefetch the
entries of the active column ``PREFETCH_AHEAD`` ahead, which the hardware cannot predict: on
VGG-6 (18% of the columns active) this halves the time.

Activations for a batch are ``(cols, batch)``: the batch dimension is contiguous, so one stored
entry updates a contiguous run of outputs, ``acc[row, :] += w * x[j, :]``, which vectorises. The
batch is processed in tiles of ``BATCH_TILE`` columns, each PE's accumulator being a flat
``(local_rows * BATCH_TILE,)`` buffer (flat, because numba builds a reference-counted view for every
``acc[row]``).

``gather_columns`` decodes chosen columns only (an embedding lookup reads the tokens it needs);
``erf`` serves GELU (numpy has none). The layout's own build and check kernels are in
``_layout_kernels``.

Fixed-point kernels (EIE's 16-bit arithmetic) take int16 codebooks and activations and accumulate
exact int64 sums; the bias is rounded into the accumulator's format, ``bias * bias_scale[b]``, in
the epilogue (``bias_scale`` is ``2**fractional_bits`` of the accumulator, per batch column).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

BATCH_TILE = 64
"""Batch columns per accumulator tile: a PE's tile is ``local_rows * BATCH_TILE`` values."""

PREFETCH_AHEAD = 4
"""Batch-1 kernels prefetch the entries of the active column this many columns ahead ..."""
PREFETCH_LINES = 4
"""... at most this many 64-byte cache lines of it (a column of a PE is rarely longer)."""

_ONE = np.uint64(1)
_ZERO = np.uint64(0)


@intrinsic
def _prefetch(typingctx, array, index):
    """``llvm.prefetch`` of ``array[index]`` (read, keep in all cache levels): the active columns
    are scattered over the entries, so the hardware prefetcher cannot guess the next one."""
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


@njit(cache=True, inline="always")
def _prefetch_column(entries, col_ptr, p, active, t):
    """Prefetch PE ``p``'s entries of the active column ``PREFETCH_AHEAD`` after ``t``, unless the
    columns in between are all active: then the entries are read in order, which the hardware
    prefetcher follows by itself (and a software prefetch only costs)."""
    if t + PREFETCH_AHEAD < active.shape[0]:
        j = active[t + PREFETCH_AHEAD]
        if j == active[t] + PREFETCH_AHEAD:
            return
        k, end = np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])
        line = np.uint64(64 // entries.itemsize)
        for _ in range(PREFETCH_LINES):
            if k < end:
                _prefetch(entries, k)
            k += line


@njit(cache=True, inline="always")
def _padded(n, itemsize):
    """``n`` rounded up to whole 64-byte lines, plus one line: PEs' accumulators allocated side by
    side as rows of one array then share no cache line."""
    per_line = 64 // itemsize
    return (n + 2 * per_line - 1) // per_line * per_line


@njit(cache=True, parallel=True)
def gather_columns(codes, gaps, code_mask, gap_shift, col_ptr, codebook, columns, y):
    """``y[:, t] = W[:, columns[t]]``: decode only the requested columns (an embedding lookup);
    ``y`` float32 ``(rows, len(columns))``, zeroed by the caller. Each output column is one
    thread's."""
    pes = col_ptr.shape[0]
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    upes = np.uint64(pes)
    for t in prange(columns.shape[0]):
        j = columns[t]
        for p in range(pes):
            row = _ZERO
            for k in range(np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])):
                row += np.uint64(gaps[k]) >> shift
                code = np.uint64(codes[k]) & cmask
                if code != 0:
                    y[row * upes + np.uint64(p), t] = codebook[code]
                row += _ONE


@njit(cache=True)
def erf(x, out):
    """``out[i] = erf(x[i])`` (float64, 1-D): numpy has no erf; GELU needs it."""
    for i in range(x.shape[0]):
        out[i] = math.erf(x[i])


@njit(cache=True)
def active_columns(x):
    """Indices (int64) of the non-zero entries of 1-D ``x`` (EIE's leading non-zero detection)."""
    active = np.empty(x.shape[0], dtype=np.int64)
    n = 0
    for j in range(x.shape[0]):
        if x[j] != 0:
            active[n] = j
            n += 1
    return active[:n]


# ---------------------------------------------------------------------------------------------
# float32, batch 1: x (cols,) float32, y (rows,) float32
# ---------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _column_packed(entries, start, end, shift, code_mask, scaled, acc):
    """``acc[row] += scaled[code]`` over packed entries ``start:end`` (uint64) of one column;
    ``scaled`` is the codebook times the column's activation."""
    row = _ZERO
    for k in range(start, end):
        e = np.uint64(entries[k])
        row += e >> shift
        acc[row] += scaled[e & code_mask]
        row += _ONE


@njit(cache=True, inline="always")
def _column_split(codes, gaps, start, end, gap_shift, code_mask, codebook, a, acc):
    """``acc[row] += codebook[code] * a`` over split entries ``start:end`` of one column."""
    row = _ZERO
    for k in range(start, end):
        row += np.uint64(gaps[k]) >> gap_shift
        acc[row] += codebook[np.uint64(codes[k]) & code_mask] * a
        row += _ONE


@njit(cache=True)
def _store_vector_float32(acc, bias, relu, y):
    """``y[r] = act(acc[r % pes, r // pes] + bias[r])``: interleave the PEs' rows, after the
    ``prange`` (PEs writing interleaved rows of ``y`` would fight over its cache lines). Walks
    local rows, then PEs: no integer division per row."""
    pes = acc.shape[0]
    rows = y.shape[0]
    for local in range((rows + pes - 1) // pes):
        for p in range(pes):
            r = local * pes + p
            if r < rows:
                v = acc[p, local]
                if bias.shape[0]:
                    v += bias[r]
                if relu and v < 0:
                    v = np.float32(0.0)
                y[r] = v


@njit(cache=True, parallel=True)
def matvec_packed_float32(entries, code_bits, col_ptr, codebook, bias, relu, x, y):
    """``y = act(W x + bias)`` for a packed layer; ``bias`` float32 ``(rows,)`` or empty."""
    pes = col_ptr.shape[0]
    local_rows = (y.shape[0] + pes - 1) // pes
    active = active_columns(x)
    shift = np.uint64(code_bits)
    code_mask = np.uint64((1 << code_bits) - 1)
    n_codes = codebook.shape[0]
    acc = np.zeros((pes, _padded(local_rows, 4)), dtype=np.float32)
    for p in prange(pes):
        acc_p = acc[p]
        scaled = np.empty(n_codes, dtype=np.float32)
        for t in range(active.shape[0]):
            _prefetch_column(entries, col_ptr, p, active, t)
            j = active[t]
            a = x[j]
            for c in range(n_codes):
                scaled[c] = codebook[c] * a
            start, end = np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])
            _column_packed(entries, start, end, shift, code_mask, scaled, acc_p)
    _store_vector_float32(acc, bias, relu, y)


@njit(cache=True, parallel=True)
def matvec_split_float32(codes, gaps, code_mask, gap_shift, col_ptr, codebook, bias, relu, x, y):
    """``y = act(W x + bias)`` for a split layout (or a packed one given twice)."""
    pes = col_ptr.shape[0]
    local_rows = (y.shape[0] + pes - 1) // pes
    active = active_columns(x)
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    acc = np.zeros((pes, _padded(local_rows, 4)), dtype=np.float32)
    for p in prange(pes):
        acc_p = acc[p]
        for t in range(active.shape[0]):
            _prefetch_column(codes, col_ptr, p, active, t)
            j = active[t]
            start, end = np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])
            _column_split(codes, gaps, start, end, shift, cmask, codebook, x[j], acc_p)
    _store_vector_float32(acc, bias, relu, y)


# ---------------------------------------------------------------------------------------------
# float32, batch: x (cols, batch) float32, y (rows, batch) float32
# ---------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _load_tile(x, j, b0, width, xt):
    """Copy ``x[j, b0:b0 + width]`` into ``xt`` (converting to its dtype); return whether any of it
    is non-zero. The copy, a small buffer that stays in L1, makes the update loop faster."""
    nonzero = False
    for b in range(width):
        v = x[j, b0 + b]
        xt[b] = v
        nonzero |= v != 0
    return nonzero


@njit(cache=True, inline="always")
def _decode_column(codes, gaps, start, end, gap_shift, code_mask, codebook, offsets, weights):
    """Decode the entries ``start:end`` of one column into ``offsets`` (the local row times
    ``BATCH_TILE``) and ``weights``, filler zeros dropped; return how many. Branch-free, so the
    update loop that follows has no unpredictable filler branch per entry."""
    tile = np.uint64(BATCH_TILE)
    row = _ZERO
    n = 0
    for k in range(start, end):
        row += np.uint64(gaps[k]) >> gap_shift
        code = np.uint64(codes[k]) & code_mask
        offsets[n] = row * tile
        weights[n] = codebook[code]
        n += code != 0
        row += _ONE
    return n


@njit(cache=True, inline="always")
def _update_tile(offsets, weights, n, xt, acc, width):
    """``acc[row, :width] += w * xt[:width]`` for the ``n`` decoded entries of one column."""
    m = np.uint64(width)
    for i in range(n):
        at = offsets[i]
        w = weights[i]
        for b in range(m):
            acc[at + b] += w * xt[b]


@njit(cache=True, inline="always")
def _accumulate_tile(
    codes, gaps, shift, code_mask, col_ptr, codebook, p, x, b0, width, xt, offsets, weights, acc
):
    """``acc[local_row * BATCH_TILE + b] += W[row, j] * x[j, b0 + b]`` (``b < width``) over PE
    ``p``'s entries of every column ``j`` whose slice of ``x`` is not all zero; ``xt``,
    ``offsets`` and ``weights`` are scratch (``BATCH_TILE`` and the longest column long)."""
    for j in range(x.shape[0]):
        if _load_tile(x, j, b0, width, xt):
            start, end = np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])
            n = _decode_column(
                codes, gaps, start, end, shift, code_mask, codebook, offsets, weights
            )
            _update_tile(offsets, weights, n, xt, acc, width)


@njit(cache=True)
def _longest_column(col_ptr):
    longest = 0
    for p in range(col_ptr.shape[0]):
        for j in range(col_ptr.shape[1] - 1):
            longest = max(longest, col_ptr[p, j + 1] - col_ptr[p, j])
    return longest


@njit(cache=True)
def _store_tile_float32(acc, bias, relu, p, pes, b0, width, y):
    rows = y.shape[0]
    for local in range(acc.shape[0] // BATCH_TILE):
        r = local * pes + p
        if r < rows:
            beta = bias[r] if bias.shape[0] else np.float32(0.0)
            at = local * BATCH_TILE
            for b in range(width):
                v = acc[at + b] + beta
                if relu and v < 0:
                    v = np.float32(0.0)
                y[r, b0 + b] = v


@njit(cache=True, parallel=True)
def matmul_split_float32(codes, gaps, code_mask, gap_shift, col_ptr, codebook, bias, relu, x, y):
    """``y = act(W x + bias)`` for a batch; a packed layout passes its entries as both ``codes``
    and ``gaps``. Filler zeros are skipped."""
    pes = col_ptr.shape[0]
    batch = x.shape[1]
    local_rows = (y.shape[0] + pes - 1) // pes
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    longest = _longest_column(col_ptr)
    for p in prange(pes):
        acc = np.empty(local_rows * BATCH_TILE, dtype=np.float32)
        xt = np.empty(BATCH_TILE, dtype=np.float32)
        offsets = np.empty(longest, dtype=np.uint64)
        weights = np.empty(longest, dtype=np.float32)
        for b0 in range(0, batch, BATCH_TILE):
            width = min(BATCH_TILE, batch - b0)
            acc[:] = 0.0
            _accumulate_tile(codes, gaps, shift, cmask, col_ptr, codebook, p, x, b0, width,
                             xt, offsets, weights, acc)  # fmt: skip
            _store_tile_float32(acc, bias, relu, p, pes, b0, width, y)


# ---------------------------------------------------------------------------------------------
# 16-bit fixed point: codebook int16, x int16, exact int64 accumulation, y int64
# ---------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _rounded_bias(value, scale):
    """``value * scale`` rounded half up to int64 (value and scale float64)."""
    return np.int64(np.floor(value * scale + 0.5))


@njit(cache=True, parallel=True)
def matvec_fixed16(
    codes, gaps, code_mask, gap_shift, col_ptr, codebook, bias, bias_scale, relu, x, y
):
    """Integer ``y = act(W x + round(bias * bias_scale))``; ``bias`` float64, ``y`` int64."""
    pes = col_ptr.shape[0]
    rows = y.shape[0]
    local_rows = (rows + pes - 1) // pes
    active = active_columns(x)
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    acc = np.zeros((pes, _padded(local_rows, 8)), dtype=np.int64)
    for p in prange(pes):
        for t in range(active.shape[0]):
            _prefetch_column(codes, col_ptr, p, active, t)
            j = active[t]
            a = np.int64(x[j])
            row = _ZERO
            for k in range(np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])):
                row += np.uint64(gaps[k]) >> shift
                acc[p, row] += np.int64(codebook[np.uint64(codes[k]) & cmask]) * a
                row += _ONE
    for local in range(local_rows):
        for p in range(pes):
            r = local * pes + p
            if r < rows:
                v = acc[p, local]
                if bias.shape[0]:
                    v += _rounded_bias(bias[r], bias_scale)
                if relu and v < 0:
                    v = 0
                y[r] = v


@njit(cache=True, parallel=True)
def matmul_fixed16(
    codes, gaps, code_mask, gap_shift, col_ptr, codebook, bias, bias_scale, relu, x, y
):
    """Integer batch product; ``bias_scale`` float64 ``(batch,)``, ``x`` int16 ``(cols, batch)``."""
    pes = col_ptr.shape[0]
    batch = x.shape[1]
    rows = y.shape[0]
    local_rows = (rows + pes - 1) // pes
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    longest = _longest_column(col_ptr)
    for p in prange(pes):
        acc = np.empty(local_rows * BATCH_TILE, dtype=np.int64)
        xt = np.empty(BATCH_TILE, dtype=np.int64)
        offsets = np.empty(longest, dtype=np.uint64)
        weights = np.empty(longest, dtype=np.int64)
        for b0 in range(0, batch, BATCH_TILE):
            width = min(BATCH_TILE, batch - b0)
            acc[:] = 0
            _accumulate_tile(codes, gaps, shift, cmask, col_ptr, codebook, p, x, b0, width,
                             xt, offsets, weights, acc)  # fmt: skip
            for local in range(local_rows):
                r = local * pes + p
                if r < rows:
                    at = local * BATCH_TILE
                    for b in range(width):
                        v = acc[at + b]
                        if bias.shape[0]:
                            v += _rounded_bias(bias[r], bias_scale[b0 + b])
                        if relu and v < 0:
                            v = 0
                        y[r, b0 + b] = v
