"""Numba kernel of the engine's float32 max pooling (the values only; ``pooling`` has the rest).

``max_pool_float32`` computes torch's ``max_pool2d`` values of every plane of ``x`` ``(P, H, W)``
into ``y`` ``(P, OH, OW)`` (sizes from ``pooling.pool_output_size``, ``ceil_mode`` included),
planes in parallel, separably, so that every loop but one runs over contiguous values:

1. each input row is copied into a row padded with -inf (padding never wins, as in torch), its
   running maximum over the ``kw`` offsets taken at every position, then read every ``sw``
   positions: the row's maxima over each output column's window, ``(H, OW)``;
2. each output row is the maximum of the ``kh`` rows of 1. that its window meets (rows outside
   the input skipped).

A NaN wins, as in torch. Every window holds at least one input value (torch's padding is at most
half the kernel), so no output stays -inf unless its input is.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _larger(a, b):
    """``max(a, b)`` where a NaN wins (``b`` is the running maximum)."""
    return a if a > b or a != a else b


@njit(cache=True, parallel=True)
def max_pool_float32(x, kh, kw, sh, sw, ph, pw, dh, dw, y):
    """``y[q, oh, ow]`` = the maximum of ``x[q]`` over window ``(oh, ow)`` (float32)."""
    planes, height, width = x.shape
    out_h, out_w = y.shape[1], y.shape[2]
    span = (out_w - 1) * sw + 1  # positions of the padded row where a window starts
    padded = span + (kw - 1) * dw
    inside = np.uint64(max(min(width, padded - pw), 0))  # input columns inside the padded row
    uspan = np.uint64(span)
    step = np.uint64(sw)
    for q in prange(planes):
        row = np.full(padded, -np.inf, dtype=np.float32)
        windows = np.empty(span, dtype=np.float32)
        across = np.empty((height, out_w), dtype=np.float32)
        for ih in range(height):
            at = np.uint64(pw)
            for c in range(inside):
                row[at + c] = x[q, ih, c]
            for c in range(uspan):
                windows[c] = row[c]
            for j in range(1, kw):
                shift = np.uint64(j * dw)
                for c in range(uspan):
                    windows[c] = _larger(row[shift + c], windows[c])
            for o in range(np.uint64(out_w)):
                across[ih, o] = windows[o * step]
        for oh in range(out_h):
            for o in range(out_w):
                y[q, oh, o] = -np.inf
            for i in range(kh):
                ih = oh * sh - ph + i * dh
                if 0 <= ih < height:
                    for o in range(np.uint64(out_w)):
                        y[q, oh, o] = _larger(across[ih, o], y[q, oh, o])
