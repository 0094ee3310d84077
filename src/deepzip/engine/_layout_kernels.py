"""Numba kernels that build and check the engine layout (EIE §III-B, Fig. 3; see ``layout``).

``pe_layout_counts`` / ``pe_layout_encode`` turn a compressed layer's kept weights in CSC order
(``CompressedLayer.csc()``) into each processing element's CSC entries with relative row indices
counted in the PE's local rows and filler zeros (code 0) where a gap does not fit: the same
encoding as ``deepzip.core.encode_column_major`` on each PE's rows, which the tests compare
against, without ever forming the dense codes. ``csc_problem`` checks those kept weights first
and ``check_layout`` the finished layout, before the product kernels (``_kernels``), which trust
it, run on it.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def check_layout(codes, gaps, code_mask, gap_shift, col_ptr, pe_rows, n_codes):
    """-1 if the layout is safe to run, else ``p * (cols + 1) + j`` for the first bad column
    ``j`` of PE ``p``: pointers falling or past the entries, rows past ``pe_rows[p]``, codes past
    the codebook."""
    pes, width = col_ptr.shape
    n = codes.shape[0]
    shift = np.uint64(gap_shift)
    cmask = np.uint64(code_mask)
    for p in range(pes):
        if col_ptr[p, 0] < 0:
            return p * width
        for j in range(width - 1):
            start, end = col_ptr[p, j], col_ptr[p, j + 1]
            if end < start or end > n:
                return p * width + j
            row = -1
            for k in range(start, end):
                row += np.int64(np.uint64(gaps[k]) >> shift) + 1
                if (np.uint64(codes[k]) & cmask) >= n_codes:
                    return p * width + j
            if row >= pe_rows[p]:
                return p * width + j
    return -1


@njit(cache=True)
def csc_problem(col_ptr, rows, codes, n_rows):
    """0 if kept weights in CSC order are safe to lay out, else the first problem in the order
    ``layout._check_csc`` reports them: 1 a row outside ``0..n_rows - 1``, 2 a code 0, 3 column
    pointers falling or not ending at the entry count, 4 rows not rising within a column. One
    pass, no temporaries (numpy's checks took about 12 bytes per kept weight)."""
    n = rows.shape[0]
    outside = False
    zero = False
    for k in range(n):
        if rows[k] < 0 or rows[k] >= n_rows:
            outside = True
        if codes[k] == 0:
            zero = True
    if outside:
        return 1
    if zero:
        return 2
    cols = col_ptr.shape[0] - 1
    for j in range(cols):
        if col_ptr[j + 1] < col_ptr[j]:
            return 3
    if col_ptr[0] < 0 or col_ptr[cols] != n:
        return 3
    for j in range(cols):
        for k in range(col_ptr[j] + 1, col_ptr[j + 1]):
            if rows[k] <= rows[k - 1]:
                return 4
    return 0


@njit(cache=True)
def pe_layout_counts(col_ptr, rows, pes, max_gap, counts):
    """Entries per PE and column, filler zeros included, into ``counts`` (int64 ``(pes, cols)``).

    ``col_ptr`` (int64 ``(cols + 1,)``) and ``rows`` (int64, rising within a column) are the kept
    weights in CSC order; row ``r`` is PE ``r % pes``'s local row ``r // pes``, and a PE's gap
    longer than ``max_gap`` local rows takes one filler per whole ``max_gap + 1``.
    """
    period = max_gap + 1
    last = np.empty(pes, dtype=np.int64)
    for j in range(col_ptr.shape[0] - 1):
        last[:] = -1
        for k in range(col_ptr[j], col_ptr[j + 1]):
            p = rows[k] % pes
            local = rows[k] // pes
            counts[p, j] += 1 + (local - last[p] - 1) // period
            last[p] = local


@njit(cache=True)
def pe_layout_encode(col_ptr, rows, codes, pes, max_gap, pe_ptr, out_codes, out_gaps):
    """Write each PE's entries (codes and relative indices, fillers with code 0) at the offsets
    ``pe_ptr`` (int64 ``(pes, cols + 1)``) that ``pe_layout_counts`` sized."""
    last = np.empty(pes, dtype=np.int64)
    cursor = pe_ptr[:, :-1].copy()
    for j in range(col_ptr.shape[0] - 1):
        last[:] = -1
        for k in range(col_ptr[j], col_ptr[j + 1]):
            p = rows[k] % pes
            local = rows[k] // pes
            at = cursor[p, j]
            gap = local - last[p] - 1
            while gap > max_gap:
                out_codes[at] = 0
                out_gaps[at] = max_gap
                at += 1
                gap -= max_gap + 1
            out_codes[at] = codes[k]
            out_gaps[at] = gap
            cursor[p, j] = at + 1
            last[p] = local
