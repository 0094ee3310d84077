"""Numba kernels of the engine's sparse direct convolutions (no im2col); the depthwise ones are
in ``_depthwise_kernels``, which follow the same two conventions.

All run over the EIE layout of ``layout.EngineLayer`` (rows interleaved over ``pes`` processing
elements, CSC per PE with relative row indices and filler zeros; see ``_kernels``), with a
``prange`` over PEs: a PE owns whole output channels, so no two threads write one output.

All see a strided, padded convolution as stride-1 products over **phases**: the zero-padded
input plane split into ``sh * sw`` planes ``(hq, wq)``, phase ``(a, b)`` holding the padded
input's rows ``a, a + sh, ...`` and columns ``b, b + sw, ...``. Tap ``(i, j)`` of output
``(oh, ow)`` reads the padded input at ``(oh * sh + i * dh, ow * sw + j * dw)``, which is phase
``(i * dh % sh, j * dw % sw)`` at ``(oh + i * dh // sh, ow + j * dw // sw)``: so over the output
positions laid out ``wq`` apart, ``oh * wq + ow`` (the last ``wq - OW`` of each row computed and
dropped), every tap reads one contiguous run of one phase. A 1x1 convolution of stride 1 without
padding is the case ``phase = input``.

**Sparse** (``conv_float32``): the layer's matrix ``(out, C * kh * kw)`` times those runs, one run
per column (``sources``). Each PE first decodes its entries (code through the codebook, filler
zeros dropped, relative index to a local row; regrouped by block of rows when its rows take
several accumulator blocks); then per sample, per tile of ``tile`` positions and per block of
``block_rows`` local rows it keeps an accumulator of ``block_rows x tile`` values (sized by the
wrapper to stay in cache), starts it at the bias, and for every column whose input tile is not
all zero (EIE's skipped activation, here a tile of a run) adds ``w * x_tile`` into the row of
every stored entry, two entries per pass over the tile: a contiguous update that vectorises,
over whole ``BLOCK``s of positions (the input tile's tail padded with zeros, so a narrow tile
still runs at full vector width). Then the fused ReLU and the store. For a 1x1 convolution the
input is the ``(C, H * W)`` map as it lies: sparse weights times the dense activation map without
copies (Elsen et al. 2020).

**Sparse, row by row** (``conv_rows_float32``, for maps of more than two vector blocks): the same
product with the loops turned around, as in Elsen et al.: each PE regroups its entries by row
(a counting sort), then per tile of positions and per output row adds the row's entries into an
accumulator tile that stays in L1, eight entries per pass (one load and store of the accumulator
per eight input runs, where the column kernel has one per two and keeps its accumulator in L2).
At SqueezeNet's densities (a third kept) that is about 1.2x to 1.8x faster; the regrouping costs
about two vector blocks' update per entry, which a small map (7x7: 49 positions) does not repay.
It skips no all-zero input tile.

Products and sums may fuse into FMAs (``fastmath={"contract"}``, nothing else of fastmath).

Arrays are C-contiguous float32 (activations, codebook, bias; an empty bias means none); the
wrappers in ``conv`` validate them and guarantee that every run lies inside its array. Indices
in the loops are uint64 as in ``_kernels``: a signed index (numba checks it for wraparound) turns
the contiguous loads and stores into gathers and scatters.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_ONE = np.uint64(1)
_ZERO = np.uint64(0)

BLOCK = 64
"""Positions per vector block of the sparse kernel's update (four 16-wide vectors)."""
_BLOCK = np.uint64(BLOCK)


# ---------------------------------------------------------------------------------------------
# Sparse: x (N, L) float32 (each sample's phases), y (N, R, S) float32
# ---------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _decode_blocks(
    codes, gaps, gap_shift, code_mask, col_ptr, codebook, p, local_rows, block_rows, tile
):
    """PE ``p``'s kept entries (its ``local_rows`` rows) regrouped by block of ``block_rows``
    local rows, column by column within a block (a counting sort; filler zeros dropped):
    ``(first, offsets, weights)``, where block ``k``'s column ``j`` is
    ``first[k * cols + j]:first[k * cols + j + 1]``, ``offsets`` (uint64) is the entry's row
    within its block times ``tile`` and ``weights`` its decoded weight."""
    cols = col_ptr.shape[1] - 1
    blocks = max(1, (local_rows + block_rows - 1) // block_rows)
    first = np.zeros(blocks * cols + 1, dtype=np.int64)
    if blocks == 1:  # the entries in their own order, in one branch-free pass
        stored = col_ptr[p, cols] - col_ptr[p, 0]
        offsets = np.empty(stored, dtype=np.uint64)
        weights = np.empty(stored, dtype=np.float32)
        n = 0
        for j in range(cols):
            row = _ZERO
            for k in range(np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])):
                row += np.uint64(gaps[k]) >> gap_shift
                code = np.uint64(codes[k]) & code_mask
                offsets[n] = row * tile
                weights[n] = codebook[code]
                n += code != 0  # a filler's slot is taken by the next entry
                row += _ONE
            first[j + 1] = n
        return first, offsets, weights
    # Rows rise within a column, so its block advances by counting, not by dividing.
    urows = np.uint64(block_rows)
    ucols = np.uint64(cols)
    for j in range(cols):
        row, at = _ZERO, np.uint64(j) + _ONE  # row within its block, the block's column
        for k in range(np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])):
            row += np.uint64(gaps[k]) >> gap_shift
            while row >= urows:
                row -= urows
                at += ucols
            first[at] += (np.uint64(codes[k]) & code_mask) != 0
            row += _ONE
    for i in range(blocks * cols):
        first[i + 1] += first[i]
    fill = first[:-1].copy()
    offsets = np.empty(first[-1], dtype=np.uint64)
    weights = np.empty(first[-1], dtype=np.float32)
    for j in range(cols):
        row, at = _ZERO, np.uint64(j)
        for k in range(np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])):
            row += np.uint64(gaps[k]) >> gap_shift
            while row >= urows:
                row -= urows
                at += ucols
            code = np.uint64(codes[k]) & code_mask
            if code:
                offsets[fill[at]] = row * tile
                weights[fill[at]] = codebook[code]
                fill[at] += 1
            row += _ONE
    return first, offsets, weights


@njit(cache=True, parallel=True, fastmath={"contract"})
def conv_float32(
    codes, gaps, code_mask, gap_shift, col_ptr, codebook, bias, relu, rows, x, sources, size, y,
    row0, tile, block_rows,
):  # fmt: skip
    """``y[n, row0 + r, s] = act(sum_j W[r, j] x[n, sources[j] + s] + bias[r])`` for the layer's
    ``rows`` rows, every sample ``n`` and position ``s < size``: column ``j`` of the layer reads
    the run of ``x`` ``(N, L)`` that starts at ``sources[j]`` (int64 ``(cols,)``). ``tile``:
    positions per accumulator tile (a multiple of ``BLOCK``); ``block_rows``: local rows per
    accumulator block."""
    pes = col_ptr.shape[0]
    cols = col_ptr.shape[1] - 1
    batch = x.shape[0]
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    utile = np.uint64(tile)
    for p in prange(pes):
        mine = (rows - p + pes - 1) // pes  # the PE's local rows
        first, offsets, weights = _decode_blocks(
            codes, gaps, shift, cmask, col_ptr, codebook, p, mine, block_rows, utile
        )
        acc = np.empty(block_rows * tile, dtype=np.float32)
        xt = np.empty(tile, dtype=np.float32)
        for b in range(batch):
            for s0 in range(0, size, tile):
                width = np.uint64(min(tile, size - s0))
                # The update runs over whole vector blocks, the input's tail padded with zeros:
                # a narrow last tile (a 7x7 map) still runs at full vector width.
                span = (width + _BLOCK - _ONE) // _BLOCK * _BLOCK
                at0 = np.uint64(s0)
                for local0 in range(0, mine, block_rows):
                    count = min(block_rows, mine - local0)
                    k = local0 // block_rows
                    for local in range(count):
                        r = (local0 + local) * pes + p
                        beta = bias[r] if bias.shape[0] else np.float32(0.0)
                        at = np.uint64(local) * utile
                        for i in range(width):
                            acc[at + i] = beta
                    for j in range(cols):
                        lo, hi = first[k * cols + j], first[k * cols + j + 1]
                        if lo == hi:
                            continue  # no stored weight here: not even a load
                        source = np.uint64(sources[j] + s0)
                        nonzero = False
                        for i in range(width):
                            v = x[b, source + i]
                            xt[i] = v
                            nonzero |= v != 0
                        if not nonzero:
                            continue  # an all-zero tile of the input: skipped, as EIE does
                        for i in range(width, span):
                            xt[i] = 0.0
                        e = lo
                        while e + 2 <= hi:  # two rows per pass: one load of the input each
                            at, at1 = offsets[e], offsets[e + 1]
                            w, w1 = weights[e], weights[e + 1]
                            for i in range(span):
                                v = xt[i]
                                acc[at + i] += w * v
                                acc[at1 + i] += w1 * v
                            e += 2
                        if e < hi:
                            at, w = offsets[e], weights[e]
                            for i in range(span):
                                acc[at + i] += w * xt[i]
                    for local in range(count):
                        out = row0 + (local0 + local) * pes + p
                        at = np.uint64(local) * utile
                        for i in range(width):
                            v = acc[at + i]
                            if relu and v < 0:
                                v = np.float32(0.0)
                            y[b, out, at0 + i] = v


@njit(cache=True, inline="always")
def decode_rows(codes, gaps, gap_shift, code_mask, col_ptr, codebook, sources, p, local_rows):
    """PE ``p``'s kept entries regrouped by local row (a counting sort; filler zeros dropped),
    columns rising within a row: ``(first, starts, weights)``, local row ``r``'s entries
    ``first[r]:first[r + 1]``, ``starts`` (uint64) where its column's run starts in a sample
    (``sources[j]``) and ``weights`` the decoded weights."""
    cols = col_ptr.shape[1] - 1
    first = np.zeros(local_rows + 1, dtype=np.int64)
    for j in range(cols):
        row = _ONE  # counted one slot up: the prefix sum then gives each row's first entry
        for k in range(np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])):
            row += np.uint64(gaps[k]) >> gap_shift
            first[row] += (np.uint64(codes[k]) & code_mask) != 0
            row += _ONE
    for r in range(local_rows):
        first[r + 1] += first[r]
    fill = first[:-1].copy()
    starts = np.empty(first[local_rows], dtype=np.uint64)
    weights = np.empty(first[local_rows], dtype=np.float32)
    for j in range(cols):
        row = _ZERO
        source = np.uint64(sources[j])
        for k in range(np.uint64(col_ptr[p, j]), np.uint64(col_ptr[p, j + 1])):
            row += np.uint64(gaps[k]) >> gap_shift
            code = np.uint64(codes[k]) & code_mask
            if code:
                starts[fill[row]] = source
                weights[fill[row]] = codebook[code]
                fill[row] += 1
            row += _ONE
    return first, starts, weights


@njit(cache=True, inline="always")
def _add4(acc, x, a0, a1, a2, a3, w0, w1, w2, w3, count):
    """``acc[:count] += w0 * x[a0:] + ... + w3 * x[a3:]``: four entries, one load and store of
    the accumulator."""
    for i in range(count):
        acc[i] += w0 * x[a0 + i] + w1 * x[a1 + i] + w2 * x[a2 + i] + w3 * x[a3 + i]


@njit(cache=True, parallel=True, fastmath={"contract"})
def conv_rows_float32(
    codes, gaps, code_mask, gap_shift, col_ptr, codebook, bias, relu, rows, x, sources, size, y,
    row0, tile,
):  # fmt: skip
    """``conv_float32`` row by row (same arguments, no ``block_rows``): per tile of ``tile``
    positions (a multiple of ``BLOCK``) and per output row, the row's entries add into one
    accumulator tile, eight per pass. The accumulator (``tile`` values) stays in L1 and is loaded
    and stored once per eight entries; the inputs stream from L2. No tile of the input is
    skipped (a zero input adds zeros)."""
    pes = col_ptr.shape[0]
    batch = x.shape[0]
    length = np.uint64(x.shape[1])
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    for p in prange(pes):
        mine = (rows - p + pes - 1) // pes  # the PE's local rows
        first, starts, weights = decode_rows(
            codes, gaps, shift, cmask, col_ptr, codebook, sources, p, mine
        )
        acc = np.empty(tile, dtype=np.float32)
        for b in range(batch):
            xb = x[b]
            for s0 in range(0, size, tile):
                width = np.uint64(min(tile, size - s0))
                at0 = np.uint64(s0)
                # Over whole vector blocks (values past a run's end only reach positions that
                # are dropped), unless the run's padded end passes the end of the sample.
                span = (width + _BLOCK - _ONE) // _BLOCK * _BLOCK
                end = at0 + span
                for local in range(mine):
                    r = local * pes + p
                    beta = bias[r] if bias.shape[0] else np.float32(0.0)
                    for i in range(span):
                        acc[i] = beta
                    lo, hi = first[local], first[local + 1]
                    e = lo
                    while e + 8 <= hi:
                        a0, a1, a2, a3 = starts[e], starts[e + 1], starts[e + 2], starts[e + 3]
                        a4, a5, a6, a7 = starts[e + 4], starts[e + 5], starts[e + 6], starts[e + 7]
                        w0, w1, w2, w3 = weights[e], weights[e + 1], weights[e + 2], weights[e + 3]
                        w4, w5, w6, w7 = (
                            weights[e + 4],
                            weights[e + 5],
                            weights[e + 6],
                            weights[e + 7],
                        )
                        last = max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))
                        if last + end <= length:
                            a0, a1, a2, a3 = a0 + at0, a1 + at0, a2 + at0, a3 + at0
                            a4, a5, a6, a7 = a4 + at0, a5 + at0, a6 + at0, a7 + at0
                            for i in range(span):
                                acc[i] += (
                                    w0 * xb[a0 + i] + w1 * xb[a1 + i] + w2 * xb[a2 + i]
                                    + w3 * xb[a3 + i] + w4 * xb[a4 + i] + w5 * xb[a5 + i]
                                    + w6 * xb[a6 + i] + w7 * xb[a7 + i]
                                )  # fmt: skip
                        else:
                            _add4(acc, xb, a0 + at0, a1 + at0, a2 + at0, a3 + at0,
                                  w0, w1, w2, w3, width)  # fmt: skip
                            _add4(acc, xb, a4 + at0, a5 + at0, a6 + at0, a7 + at0,
                                  w4, w5, w6, w7, width)  # fmt: skip
                        e += 8
                    if e + 4 <= hi:
                        a0, a1, a2, a3 = starts[e], starts[e + 1], starts[e + 2], starts[e + 3]
                        count = span if max(max(a0, a1), max(a2, a3)) + end <= length else width
                        _add4(acc, xb, a0 + at0, a1 + at0, a2 + at0, a3 + at0, weights[e],
                              weights[e + 1], weights[e + 2], weights[e + 3], count)  # fmt: skip
                        e += 4
                    for k in range(e, hi):
                        a0, w0 = starts[k] + at0, weights[k]
                        for i in range(width):
                            acc[i] += w0 * xb[a0 + i]
                    out = row0 + r
                    for i in range(width):
                        v = acc[i]
                        if relu and v < 0:
                            v = np.float32(0.0)
                        y[b, out, at0 + i] = v


@njit(cache=True)
def plane_geometry(kh, kw, sh, sw, dh, dw, out_h, out_w):
    """``(hq, wq, block, offsets)``: a phase's size (the output's plus the taps' reach in phase
    steps), the output rows per block (``ext`` of about ``EXT_VALUES`` values) and, per tap
    ``i * kw + j``, where in the phases it reads output ``(0, 0)``'s input."""
    hq = out_h + (kh - 1) * dh // sh
    wq = out_w + (kw - 1) * dw // sw
    offsets = np.empty(kh * kw, dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            qi, a = divmod(i * dh, sh)
            qj, b = divmod(j * dw, sw)
            offsets[i * kw + j] = ((a * sw + b) * hq + qi) * wq + qj
    return hq, wq, max(1, min(out_h, EXT_VALUES // wq)), offsets


EXT_VALUES = 4096
"""Values of a depthwise output block (16 KiB: stays in L1 while a channel's taps add into it)."""
