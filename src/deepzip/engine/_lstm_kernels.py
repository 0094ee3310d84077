"""Numba kernels of the engine's LSTM recurrence (EIE §V: NeuralTalk's LSTM gates as sparse
products over the compressed matrices).

One call runs every time step of one layer and direction: per step, ``W_hh h_{t-1}`` over the
engine layout of ``W_hh`` (see ``_kernels``), then torch's gates and state update::

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (projected[:, t] + W_hh h_{t-1} + bias)
    c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)

where ``projected`` (``W_ih x_t`` plus the biases, float32 ``(4 H, T, N)``) was computed for all
steps at once before. A Python loop over the steps costs more than a small layer's products.

The product reads the layout with the product kernels' own inlined helpers, in their order: the
batch-1 kernel as ``_kernels.matvec_split_float32`` (only non-zero hidden activations visited),
the batch kernel as ``_kernels.matmul_split_float32`` (a column skipped when zero for the whole
batch tile; its entries decoded, filler zeros dropped, then one row update per entry). Each PE
accumulates its own rows, columns in order, so ``W_hh h`` is bit for bit the product kernels'
one. A packed layout passes its entries as both ``codes`` and ``gaps``. The nonlinearities are
float32 and within an ulp of numpy's, so a whole recurrence stays within float32 rounding of the
per-step path (``lstm.recurrence_steps``).

Threads: step ``t`` needs all of step ``t - 1``, so PEs on threads would need a barrier per
step, which costs up to milliseconds when other processes hold the cores. Instead one thread
runs all steps over all PEs for a tile of ``BATCH_TILE`` sequences: the tiles are independent
outputs, the ``prange`` runs over them, and a batch of one runs on the calling thread.

State: ``h`` and ``c`` are float32 ``(H, N)`` (the kernels' ``(cols, batch)``), the initial
state on entry and the final one on return; ``out`` is float32 ``(T, N, H)``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from deepzip.engine._kernels import (
    BATCH_TILE,
    _accumulate_tile,
    _column_split,
    _longest_column,
    active_columns,
)


@njit(cache=True, inline="always")
def _sigmoid(x):
    """float32 ``1 / (1 + exp(-x))``, as the per-step numpy path computes it."""
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


@njit(cache=True, inline="always")
def _tanh(x):
    """float32 ``tanh(x)`` computed in float64, within one unit in the last place of the
    float32 result (numpy's float32 ``tanh`` is too): libm's ``tanhf`` takes 2.5 times as long,
    and a step computes ``2 H`` of them. ``(1 - e) / (1 + e)`` with ``e = exp(-2 |x|)`` (no
    overflow), and below ``|x| = 1e-3``, where ``1 - e`` would cancel, the series
    ``x - x^3 / 3 + 2 x^5 / 15``."""
    a = abs(np.float64(x))
    if a < 1e-3:
        a2 = a * a
        v = a * (1.0 - a2 * (1.0 / 3.0 - a2 * (2.0 / 15.0)))
    else:
        e = np.exp(-2.0 * a)
        v = (1.0 - e) / (1.0 + e)
    return np.float32(math.copysign(v, x))


@njit(cache=True, inline="always")
def _gates(acc, stride, bias, projected, t, b0, width, gates):
    """``gates[r * stride + b]``, the pre-activation of gate row ``r`` at step ``t`` for batch
    column ``b0 + b``: ``projected`` plus (PE ``r % pes``'s sum ``acc[p, (r // pes) * stride +
    b]`` plus the bias). Walks PEs, then local rows: no integer division per row."""
    pes = acc.shape[0]
    rows = projected.shape[0]
    for p in range(pes):
        for local in range((rows - p + pes - 1) // pes):
            r = local * pes + p
            for b in range(width):
                v = acc[p, local * stride + b]
                if bias.shape[0]:
                    v += bias[r]
                gates[r * stride + b] = projected[r, t, b0 + b] + v


@njit(cache=True, inline="always")
def _cell_update(gates, stride, t, b0, width, h, c, out):
    """Gates and state update of step ``t`` for batch columns ``b0:b0 + width`` from ``gates``
    (see ``_gates``): ``h`` and ``c`` updated in place, ``h`` written to ``out[t]``."""
    hidden = h.shape[0]
    for u in range(hidden):
        for b in range(width):
            i = _sigmoid(gates[u * stride + b])
            f = _sigmoid(gates[(hidden + u) * stride + b])
            g = _tanh(gates[(2 * hidden + u) * stride + b])
            o = _sigmoid(gates[(3 * hidden + u) * stride + b])
            cell = f * c[u, b0 + b] + i * g
            value = o * _tanh(cell)
            c[u, b0 + b] = cell
            h[u, b0 + b] = value
            out[t, b0 + b, u] = value


@njit(cache=True)
def recurrence_vector_float32(
    codes, gaps, code_mask, gap_shift, col_ptr, codebook, bias, projected, reverse, h, c, out
):
    """All steps for a batch of one (``N == 1``), on the calling thread."""
    pes = col_ptr.shape[0]
    hidden = h.shape[0]
    steps = projected.shape[1]
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    acc = np.empty((pes, (4 * hidden + pes - 1) // pes), dtype=np.float32)
    gates = np.empty(4 * hidden, dtype=np.float32)
    for s in range(steps):
        t = steps - 1 - s if reverse else s
        active = active_columns(h[:, 0])
        for p in range(pes):
            acc_p = acc[p]
            acc_p[:] = 0.0
            for k in range(active.shape[0]):
                j = active[k]
                start, end = np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])
                _column_split(codes, gaps, start, end, shift, cmask, codebook, h[j, 0], acc_p)
        _gates(acc, 1, bias, projected, t, 0, 1, gates)
        _cell_update(gates, 1, t, 0, 1, h, c, out)


@njit(cache=True, parallel=True)
def recurrence_batch_float32(
    codes, gaps, code_mask, gap_shift, col_ptr, codebook, bias, projected, reverse, h, c, out
):
    """All steps for a batch, one thread per tile of ``BATCH_TILE`` sequences."""
    pes = col_ptr.shape[0]
    hidden, batch = h.shape
    steps = projected.shape[1]
    local_rows = (4 * hidden + pes - 1) // pes
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    longest = _longest_column(col_ptr)
    for tile in prange((batch + BATCH_TILE - 1) // BATCH_TILE):
        b0 = tile * BATCH_TILE
        width = min(BATCH_TILE, batch - b0)
        acc = np.empty((pes, local_rows * BATCH_TILE), dtype=np.float32)
        xt = np.empty(BATCH_TILE, dtype=np.float32)
        offsets = np.empty(longest, dtype=np.uint64)
        weights = np.empty(longest, dtype=np.float32)
        gates = np.empty(4 * hidden * BATCH_TILE, dtype=np.float32)
        for s in range(steps):
            t = steps - 1 - s if reverse else s
            for p in range(pes):
                acc_p = acc[p]
                acc_p[:] = 0.0
                _accumulate_tile(codes, gaps, shift, cmask, col_ptr, codebook, p, h, b0, width,
                                 xt, offsets, weights, acc_p)  # fmt: skip
            _gates(acc, BATCH_TILE, bias, projected, t, b0, width, gates)
            _cell_update(gates, BATCH_TILE, t, b0, width, h, c, out)
