"""Numba kernels of the engine's depthwise direct convolutions (no im2col).

They see a strided, padded convolution as stride-1 products over the input's **phases**, as
the sparse convolutions of ``_conv_kernels`` do (see there).

``depthwise_float32``: the layer is the ``(C_out, kh * kw)`` matrix of a
convolution with one input channel per group (row ``c``: channel ``c``'s taps; ``C_out`` is
``multiplier x C_in``, output channel ``c`` reading input channel ``c // multiplier``). Each PE
regroups its stored entries by channel (a counting sort, fillers dropped: only the kept taps
remain), then for each of its channels copies the input plane into its phases (a buffer whose
padding stays zero from one channel to the next) and adds, block of output rows by block, the
kept taps' weights times their runs, three taps per contiguous loop over a block that stays in
L1. ``depthwise_dense_float32`` does the same for a plain (uncompressed) weight.

Products and sums may fuse into FMAs (``fastmath={"contract"}``, nothing else of fastmath).
Arrays are C-contiguous float32; the wrappers in ``conv`` validate them. Indices in the loops are
uint64 as in ``_kernels``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from deepzip.engine._conv_kernels import BLOCK, decode_rows, plane_geometry

_ONE = np.uint64(1)
_BLOCK = np.uint64(BLOCK)


# ---------------------------------------------------------------------------------------------
# Depthwise: x (N, C_in, H, W) float32, y (N, C_out, OH, OW) float32
# ---------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _phases(x, n, c_in, sh, sw, top, left, hq, wq, phase, row):
    """Copy the zero-padded input plane ``x[n, c_in]`` into its ``sh * sw`` phases: phase
    ``(a, b)`` is ``phase[(a * sw + b) * hq * wq:]``, ``(hq, wq)``, whose ``(u, v)`` is the padded
    input's ``(u * sh + a, v * sw + b)``. ``phase`` and ``row`` (``sw * wq``) come zeroed and only
    the input's values are written, so what is padding stays zero from one plane to the next."""
    height, width = x.shape[2], x.shape[3]
    size = np.uint64(hq * wq)
    uwq = np.uint64(wq)
    count = np.uint64(max(min(width, sw * wq - left), 0))
    u, a = divmod(top, sh)  # input row ih is phase row u of phase (a, .): counted, not divided
    for ih in range(height):
        if ih:
            a += 1
            if a == sh:
                a, u = 0, u + 1
        if u >= hq:
            break  # rows below the last one the output reads
        at = np.uint64((a * sw * hq + u) * wq)
        if sw == 1:
            at += np.uint64(left)
            for v in range(count):
                phase[at + v] = x[n, c_in, ih, v]
            continue
        start = np.uint64(left)
        for v in range(count):
            row[start + v] = x[n, c_in, ih, v]
        if sw == 2:  # both phases in one loop: one interleaved load group
            for v in range(uwq):
                phase[at + v] = row[2 * v]
                phase[at + size + v] = row[2 * v + _ONE]
        else:
            for b in range(sw):
                for v in range(uwq):
                    phase[at + np.uint64(b) * size + v] = row[v * np.uint64(sw) + np.uint64(b)]


@njit(cache=True, inline="always")
def _depthwise_plane(phase, wq, offsets, weights, lo, hi, beta, relu, y, n, c_out, ext, block):
    """The output plane ``y[n, c_out]`` from the input's phases and the channel's kept taps
    ``lo:hi`` (``offsets``: where in ``phase`` a tap reads output ``(0, 0)``'s input; ``weights``),
    ``block`` output rows at a time in ``ext``: over a block of rows (``wq`` apart, the last
    ``wq - OW`` columns of each row unused) a tap's update is one contiguous loop, run over whole
    vector blocks (``ext`` and ``phase`` have ``BLOCK`` values of slack past their end): a small
    plane (7x7: 61 values) then runs at full vector width rather than element by element."""
    out_h, out_w = y.shape[2], y.shape[3]
    uow = np.uint64(out_w)
    for oh0 in range(0, out_h, block):
        rows = min(block, out_h - oh0)
        length = np.uint64((rows - 1) * wq + out_w)
        length = (length + _BLOCK - _ONE) // _BLOCK * _BLOCK
        base = np.uint64(oh0 * wq)  # offsets are int64 (a plain weight) or uint64 (a layout)
        for k in range(length):
            ext[k] = beta
        triples = lo + (hi - lo) // 3 * 3
        for t in range(lo, triples, 3):  # three taps per pass: a third of the loads and stores
            s0 = np.uint64(offsets[t]) + base
            s1 = np.uint64(offsets[t + 1]) + base
            s2 = np.uint64(offsets[t + 2]) + base
            w0, w1, w2 = weights[t], weights[t + 1], weights[t + 2]
            for k in range(length):
                ext[k] += w0 * phase[s0 + k] + w1 * phase[s1 + k] + w2 * phase[s2 + k]
        for t in range(triples, hi):
            source = np.uint64(offsets[t]) + base
            w = weights[t]
            for k in range(length):
                ext[k] += w * phase[source + k]
        for r in range(rows):
            at = np.uint64(r * wq)
            for ow in range(uow):
                v = ext[at + ow]
                if relu and v < 0:
                    v = np.float32(0.0)
                y[n, c_out, oh0 + r, ow] = v


@njit(cache=True, parallel=True, fastmath={"contract"})
def depthwise_float32(
    codes, gaps, code_mask, gap_shift, col_ptr, codebook, bias, relu, x, multiplier, kh, kw, sh,
    sw, top, left, dh, dw, y,
):  # fmt: skip
    """Depthwise convolution from the layer ``(C_out, kh * kw)``: stride ``(sh, sw)``, top and left
    padding (the bottom and right ones are in ``y``'s size), dilation ``(dh, dw)``."""
    pes = col_ptr.shape[0]
    channels = y.shape[1]
    local_rows = (channels + pes - 1) // pes
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    hq, wq, block, tap_offsets = plane_geometry(kh, kw, sh, sw, dh, dw, y.shape[2], y.shape[3])
    for p in prange(pes):
        # The PE's kept entries regrouped by channel; a tap reads its phase at ``offsets``.
        count, offsets, weights = decode_rows(
            codes, gaps, shift, cmask, col_ptr, codebook, tap_offsets, p, local_rows
        )
        phase = np.zeros(sh * sw * hq * wq + BLOCK, dtype=np.float32)
        row = np.zeros(sw * wq, dtype=np.float32)
        ext = np.empty(block * wq + BLOCK, dtype=np.float32)
        for local in range(local_rows):
            c = local * pes + p
            if c >= channels:
                break
            beta = bias[c] if bias.shape[0] else np.float32(0.0)
            for n in range(x.shape[0]):
                _phases(x, n, c // multiplier, sh, sw, top, left, hq, wq, phase, row)
                _depthwise_plane(
                    phase, wq, offsets, weights, count[local], count[local + 1], beta, relu, y,
                    n, c, ext, block,
                )  # fmt: skip


@njit(cache=True, parallel=True, fastmath={"contract"})
def depthwise_dense_float32(
    weight, bias, relu, x, multiplier, kh, kw, sh, sw, top, left, dh, dw, y
):
    """``depthwise_float32`` for a plain weight ``(C_out, kh * kw)``: every tap is kept."""
    channels, taps = weight.shape
    hq, wq, block, offsets = plane_geometry(kh, kw, sh, sw, dh, dw, y.shape[2], y.shape[3])
    for c in prange(channels):
        phase = np.zeros(sh * sw * hq * wq + BLOCK, dtype=np.float32)
        row = np.zeros(sw * wq, dtype=np.float32)
        ext = np.empty(block * wq + BLOCK, dtype=np.float32)
        beta = bias[c] if bias.shape[0] else np.float32(0.0)
        for n in range(x.shape[0]):
            _phases(x, n, c // multiplier, sh, sw, top, left, hq, wq, phase, row)
            _depthwise_plane(
                phase, wq, offsets, weight[c], 0, taps, beta, relu, y, n, c, ext, block
            )
