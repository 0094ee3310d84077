"""Numba kernels for the pure algorithms in ``deepzip.core``.

Free functions over C-contiguous arrays of fixed dtypes, compiled on first call and cached on disk.
The public wrappers (``relative_index.py``, ``huffman.py``, ...) validate shapes, dtypes and value
ranges and allocate the outputs, so the kernels trust their inputs; where a kernel must read data
that can be corrupt (a payload from a file), it reports the problem through its return value
instead of raising.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ---------------------------------------------------------------------------------------------
# Relative index (Deep Compression §2, EIE §III-B)
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def relative_index_column_counts(codes, mask, max_gap, filler_code, counts):
    """Stored entries per column, filler zeros included, into ``counts`` (int64 ``(cols,)``).

    ``codes`` and ``mask`` are ``(rows, cols)``, read row by row (so the matrix is never
    transposed); ``max_gap`` is ``2**index_bits - 1``. Returns -1, or the flat index of the first
    kept entry whose code is ``filler_code`` (the caller's error).
    """
    n_rows, n_cols = mask.shape
    period = max_gap + 1
    previous = np.full(n_cols, -1, dtype=np.int64)  # last kept row of each column
    counts[:] = 0
    for r in range(n_rows):
        for c in range(n_cols):
            if mask[r, c]:
                if codes[r, c] == filler_code:
                    return r * n_cols + c
                # One filler zero per whole ``period`` of zeros in front of the entry.
                counts[c] += 1 + (r - previous[c] - 1) // period
                previous[c] = r
    return -1


@njit(cache=True)
def relative_index_encode(codes, mask, col_ptr, max_gap, filler_code, entries, gaps):
    """Fill ``entries`` and ``gaps`` (both ``(col_ptr[-1],)``) in column order.

    ``codes`` and ``mask`` are ``(rows, cols)``, read row by row; each column has its own write
    cursor starting at ``col_ptr[c]`` (from ``relative_index_column_counts``). A gap longer than
    ``max_gap`` is bridged by filler entries that carry ``filler_code`` and the gap ``max_gap``.
    """
    n_rows, n_cols = mask.shape
    previous = np.full(n_cols, -1, dtype=np.int64)
    cursor = col_ptr[:-1].copy()
    for r in range(n_rows):
        for c in range(n_cols):
            if mask[r, c]:
                k = cursor[c]
                gap = r - previous[c] - 1
                while gap > max_gap:
                    entries[k] = filler_code
                    gaps[k] = max_gap
                    k += 1
                    gap -= max_gap + 1
                entries[k] = codes[r, c]
                gaps[k] = gap
                cursor[c] = k + 1
                previous[c] = r


@njit(cache=True)
def relative_index_rows(gaps, col_ptr, n_rows, rows_out):
    """Absolute row of every stored entry into ``rows_out`` (int64, ``gaps.shape``).

    Returns -1 on success, else the first column whose entries run past ``n_rows``.
    """
    n_cols = col_ptr.shape[0] - 1
    for c in range(n_cols):
        row = -1
        for k in range(col_ptr[c], col_ptr[c + 1]):
            row += np.int64(gaps[k]) + 1
            rows_out[k] = row
        if row >= n_rows:
            return c
    return -1


@njit(cache=True)
def csc_rows_rise(col_ptr, rows):
    """Whether ``rows`` rise strictly within each column of ``col_ptr`` (pointers already
    checked to rise from 0 to ``rows.shape[0]``): the check without a temporary per entry."""
    for c in range(col_ptr.shape[0] - 1):
        for k in range(col_ptr[c] + 1, col_ptr[c + 1]):
            if rows[k] <= rows[k - 1]:
                return False
    return True


@njit(cache=True)
def relative_index_kept(entries, gaps, col_ptr, filler_code, n_rows, ptr_out, rows_out, codes_out):
    """The kept entries in CSC order, filler zeros dropped: ``ptr_out`` (int64 ``(cols + 1,)``),
    ``rows_out`` (int64) and ``codes_out`` (the entries' dtype), both sized to the kept count.

    Returns -1 on success, else the first column whose entries run past ``n_rows`` (as
    ``relative_index_rows``).
    """
    n_cols = col_ptr.shape[0] - 1
    kept = 0
    ptr_out[0] = 0
    for c in range(n_cols):
        row = -1
        for k in range(col_ptr[c], col_ptr[c + 1]):
            row += np.int64(gaps[k]) + 1
            if entries[k] != filler_code:
                if kept < rows_out.shape[0]:
                    rows_out[kept] = row
                    codes_out[kept] = entries[k]
                kept += 1
        if row >= n_rows:
            return c
        ptr_out[c + 1] = kept
    return -1


@njit(cache=True)
def relative_index_decode(entries, gaps, col_ptr, filler_code, codes_out, mask_out):
    """Scatter the stored entries into ``codes_out`` and ``mask_out`` (both ``(rows, cols)``).

    Filler entries (code ``filler_code``) only advance the row. Returns -1 on success, else the
    first column whose entries run past the last row (nothing past it is written).
    """
    n_rows = codes_out.shape[0]
    n_cols = col_ptr.shape[0] - 1
    for c in range(n_cols):
        row = -1
        for k in range(col_ptr[c], col_ptr[c + 1]):
            row += np.int64(gaps[k]) + 1
            if row >= n_rows:
                return c
            if entries[k] != filler_code:
                codes_out[row, c] = entries[k]
                mask_out[row, c] = True
    return -1


# ---------------------------------------------------------------------------------------------
# Canonical Huffman coding (Deep Compression §4)
#
# Bit order: most significant bit first. The first code occupies the top bits of byte 0, and a
# code's own bits are written from its most significant bit down, so canonical codes compare as
# integers in stream order and the decoder's lookup table is indexed by the next bits read as a
# big-endian number. The last byte is padded with zero bits.
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def huffman_count_bits(symbols, lengths):
    """Total payload bits, or ``-1 - i`` where symbols[i] has no code (length 0).

    ``lengths`` is uint8 indexed by every value the symbol dtype can hold (256 or 65536 entries),
    with 0 for symbols outside the alphabet, so the lookup is always in bounds.
    """
    total = 0
    for i in range(symbols.shape[0]):
        length = lengths[symbols[i]]
        if length == 0:
            return -1 - i
        total += length
    return total


@njit(cache=True)
def huffman_encode(symbols, codes, lengths, out):
    """Write the codes of ``symbols`` into ``out`` (uint8, at least ceil(bits / 8) + 4 bytes).

    A 64-bit accumulator collects codes (at most 32 bits each) and spills 32 bits at a time.
    """
    accumulator = np.uint64(0)
    pending = 0  # bits in the low end of the accumulator not yet written
    position = 0  # next byte of ``out``
    for i in range(symbols.shape[0]):
        s = symbols[i]
        length = lengths[s]
        accumulator = (accumulator << np.uint64(length)) | np.uint64(codes[s])
        pending += length
        if pending >= 32:
            pending -= 32
            word = accumulator >> np.uint64(pending)
            out[position] = np.uint8((word >> np.uint64(24)) & np.uint64(0xFF))
            out[position + 1] = np.uint8((word >> np.uint64(16)) & np.uint64(0xFF))
            out[position + 2] = np.uint8((word >> np.uint64(8)) & np.uint64(0xFF))
            out[position + 3] = np.uint8(word & np.uint64(0xFF))
            position += 4
    # Flush the rest, left-aligned in whole bytes.
    while pending > 0:
        if pending >= 8:
            pending -= 8
            out[position] = np.uint8((accumulator >> np.uint64(pending)) & np.uint64(0xFF))
        else:
            out[position] = np.uint8((accumulator << np.uint64(8 - pending)) & np.uint64(0xFF))
            pending = 0
        position += 1


@njit(cache=True)
def huffman_decode(padded, n_bits, table, table_bits, out):
    """Decode ``out.shape[0]`` symbols; return the number of bits consumed, or -1 on a bad code.

    ``padded`` is the payload followed by at least 8 zero bytes. ``table`` (uint32,
    ``2**table_bits`` entries, ``table_bits`` = the longest code length) maps the next
    ``table_bits`` bits to ``symbol << 8 | length``; length 0 marks bit patterns that no code
    starts with. Each 64-bit big-endian load at the current byte gives at least 57 valid bits,
    enough for ``57 // table_bits`` symbols before the next load.
    """
    n = out.shape[0]
    per_load = 57 // table_bits
    drop = np.uint64(64 - table_bits)
    bit = 0
    i = 0
    while i < n:
        byte = bit >> 3
        window = (
            (np.uint64(padded[byte]) << np.uint64(56))
            | (np.uint64(padded[byte + 1]) << np.uint64(48))
            | (np.uint64(padded[byte + 2]) << np.uint64(40))
            | (np.uint64(padded[byte + 3]) << np.uint64(32))
            | (np.uint64(padded[byte + 4]) << np.uint64(24))
            | (np.uint64(padded[byte + 5]) << np.uint64(16))
            | (np.uint64(padded[byte + 6]) << np.uint64(8))
            | np.uint64(padded[byte + 7])
        ) << np.uint64(bit & 7)
        stop = min(n, i + per_load)
        while i < stop:
            entry = table[window >> drop]
            length = entry & np.uint32(0xFF)
            if length == 0:
                return -1
            out[i] = entry >> np.uint32(8)
            window <<= np.uint64(length)
            bit += length
            i += 1
        if bit > n_bits:
            return -1
    return bit
