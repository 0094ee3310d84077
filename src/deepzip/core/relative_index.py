"""Sparse structure as relative indices with filler zeros (Deep Compression §2, EIE §III-B).

A pruned weight matrix is stored in compressed sparse column (CSC) order, as EIE stores it: the
kept entries of column 0 from top to bottom, then column 1, and so on, with a column pointer array
``col_ptr`` (``cols + 1``) marking where each column starts. Every stored entry carries

- its payload, here a cluster code (the index into the layer's codebook, Deep Compression §3), and
- its *relative index* (gap): how many zeros precede it, counted from the previous stored entry of
  the same column (or from the top of the column for the first entry), in ``index_bits`` bits.

Gaps restart at each column, since the column pointers already say where a column begins (EIE
§III-B). A gap that does not fit in ``index_bits`` bits, more than ``2**index_bits - 1`` zeros, is
bridged by *filler zeros*: a filler entry sits ``2**index_bits - 1`` zeros after the previous
entry and stands for a weight that is exactly zero. EIE's example, one column
``[0, 0, 1, 2, 0 x 18, 3]`` with 4-bit gaps, is stored as values ``v = [1, 2, 0, 3]`` and gaps
``z = [2, 0, 15, 2]``: the third entry is the filler.

Fillers carry a code too. The caller reserves one code, ``filler_code``, for the exact zero
weight: its codebook value should be 0.0, so that an engine multiplying every stored entry by the
activation gets the right answer without looking at fillers (an engine may also skip them by the
code), and no kept connection may carry that code (a kept weight of exactly zero is the same as a
pruned one). That makes fillers recognisable, and decoding gives back the codes and the mask
exactly.

Only 2-D matrices are encoded: the caller views a weight as its ``(rows, cols)`` matrix
(``deepzip.kinds``: a convolution weight ``(out, in, kh, kw)`` as ``(out, in * kh * kw)``, ...).
Rows are outputs and columns are inputs, so one column holds the weights one input activation
meets, which is what EIE skips when that activation is zero.

The matrix comes either dense (``encode_column_major``, codes and mask of ``(rows, cols)``) or as
the CSC of its kept entries (``encode_csc``: column pointers, rows and codes), which costs memory
in proportion to the kept entries only; ``decode_csc`` is its inverse and ``decode_column_major``
the dense one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepzip.core import _kernels

MIN_INDEX_BITS = 1
MAX_INDEX_BITS = 8
"""Gaps are stored as uint8, so ``index_bits`` is at most 8."""


@dataclass(frozen=True, eq=False)
class RelativeIndex:
    """One matrix's kept entries in CSC order with relative indices.

    Attributes:
        entries: uint8 or uint16 ``(n_entries,)``: the cluster code of each stored entry, column by
            column, top to bottom; filler zeros hold ``filler_code``.
        gaps: uint8 ``(n_entries,)``: zeros between an entry and the previous stored entry of its
            column (from the top for a column's first entry); each ``< 2**index_bits``.
        col_ptr: int64 ``(cols + 1,)``: column ``c`` is ``entries[col_ptr[c]:col_ptr[c + 1]]``.
        shape: ``(rows, cols)`` of the matrix.
        index_bits: bits per gap.
        filler_code: the code reserved for filler zeros.
    """

    entries: np.ndarray
    gaps: np.ndarray
    col_ptr: np.ndarray
    shape: tuple[int, int]
    index_bits: int
    filler_code: int

    @property
    def n_entries(self) -> int:
        """Stored entries, filler zeros included."""
        return int(self.entries.size)

    @property
    def n_fillers(self) -> int:
        """Filler zeros among the stored entries."""
        return int(np.count_nonzero(self.entries == self.filler_code))


def _check_index_bits(index_bits: int) -> None:
    if not MIN_INDEX_BITS <= index_bits <= MAX_INDEX_BITS:
        raise ValueError(
            f"index_bits must be in {MIN_INDEX_BITS}..{MAX_INDEX_BITS}, got {index_bits}"
        )


def _check_codes_and_mask(codes: np.ndarray, mask: np.ndarray, filler_code: int) -> None:
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (rows, cols), got shape {codes.shape}")
    if codes.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"codes must be uint8 or uint16, got {codes.dtype}")
    if mask.shape != codes.shape:
        raise ValueError(f"mask shape {mask.shape} != codes shape {codes.shape}")
    if mask.dtype != np.bool_:
        raise ValueError(f"mask must be bool, got {mask.dtype}")
    if not 0 <= filler_code <= np.iinfo(codes.dtype).max:
        raise ValueError(f"filler_code {filler_code} does not fit in {codes.dtype}")


def encode_column_major(
    codes: np.ndarray, mask: np.ndarray, index_bits: int, filler_code: int
) -> RelativeIndex:
    """Store the kept entries of a 2-D matrix in CSC order with ``index_bits``-bit relative indices.

    Args:
        codes: uint8 or uint16 ``(rows, cols)``, the cluster code of every weight (rows = outputs,
            cols = inputs; a conv weight reshaped to ``(out, in * kh * kw)``).
        mask: bool ``(rows, cols)``, True where the connection was kept.
        index_bits: bits per gap, 1..8 (Deep Compression: 5 for LeNet, 4 for AlexNet's fc layers).
        filler_code: the code of filler zeros; no kept entry may carry it.

    Returns:
        The ``RelativeIndex``; ``entries`` has the dtype of ``codes``.

    Raises:
        ValueError: on bad shapes or dtypes, ``index_bits`` out of range, or a kept entry that
            carries ``filler_code``.
    """
    codes = np.asarray(codes)
    mask = np.asarray(mask)
    _check_index_bits(index_bits)
    _check_codes_and_mask(codes, mask, filler_code)
    rows, cols = codes.shape
    codes = np.ascontiguousarray(codes)
    mask = np.ascontiguousarray(mask)
    max_gap = (1 << index_bits) - 1
    counts = np.empty(cols, dtype=np.int64)
    bad = _kernels.relative_index_column_counts(codes, mask, max_gap, filler_code, counts)
    if bad >= 0:
        r, c = divmod(int(bad), cols)
        raise ValueError(
            f"the kept entry at ({r}, {c}) has the code {filler_code} reserved for filler zeros; "
            "reserve a code that no kept connection uses"
        )
    col_ptr = np.zeros(cols + 1, dtype=np.int64)
    np.cumsum(counts, out=col_ptr[1:])
    n_entries = int(col_ptr[-1])
    entries = np.empty(n_entries, dtype=codes.dtype)
    gaps = np.empty(n_entries, dtype=np.uint8)
    _kernels.relative_index_encode(codes, mask, col_ptr, max_gap, filler_code, entries, gaps)
    return RelativeIndex(entries, gaps, col_ptr, (rows, cols), index_bits, int(filler_code))


def _check_index(index: RelativeIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a (possibly untrusted) ``RelativeIndex``; return contiguous arrays."""
    _check_index_bits(index.index_bits)
    rows, cols = index.shape
    if rows < 0 or cols < 0:
        raise ValueError(f"shape must be non-negative, got {index.shape}")
    entries = np.ascontiguousarray(index.entries)
    gaps = np.ascontiguousarray(index.gaps)
    col_ptr = np.ascontiguousarray(index.col_ptr)
    if entries.ndim != 1 or entries.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"entries must be 1-D uint8 or uint16, got {entries.dtype}")
    if gaps.shape != entries.shape or gaps.dtype != np.uint8:
        raise ValueError(f"gaps must be uint8 of shape {entries.shape}")
    if col_ptr.shape != (cols + 1,) or col_ptr.dtype != np.int64:
        raise ValueError(f"col_ptr must be int64 of shape ({cols + 1},)")
    if col_ptr[0] != 0 or col_ptr[-1] != entries.size or np.any(np.diff(col_ptr) < 0):
        raise ValueError(f"col_ptr must rise from 0 to {entries.size}")
    if gaps.size and int(gaps.max()) >= 1 << index.index_bits:
        raise ValueError(f"a gap of {int(gaps.max())} does not fit in {index.index_bits} bits")
    if not 0 <= index.filler_code <= np.iinfo(entries.dtype).max:
        raise ValueError(f"filler_code {index.filler_code} does not fit in {entries.dtype}")
    return entries, gaps, col_ptr


def decode_column_major(index: RelativeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Rebuild the matrix from its relative index.

    Returns:
        ``(codes, mask)``: codes of the dtype of ``index.entries`` and bool mask, both
        ``index.shape``; codes are 0 where the mask is False. The inverse of
        ``encode_column_major`` for every input it accepts.

    Raises:
        ValueError: if the arrays are inconsistent or a column's entries run past the last row.
    """
    entries, gaps, col_ptr = _check_index(index)
    codes = np.zeros(index.shape, dtype=entries.dtype)
    mask = np.zeros(index.shape, dtype=bool)
    bad = _kernels.relative_index_decode(entries, gaps, col_ptr, index.filler_code, codes, mask)
    if bad >= 0:
        raise ValueError(f"column {bad}: the gaps run past row {index.shape[0] - 1}")
    return codes, mask


def entry_rows(index: RelativeIndex) -> np.ndarray:
    """Absolute row of every stored entry (int64 ``(n_entries,)``), filler zeros included."""
    _, gaps, col_ptr = _check_index(index)
    rows = np.empty(gaps.size, dtype=np.int64)
    bad = _kernels.relative_index_rows(gaps, col_ptr, index.shape[0], rows)
    if bad >= 0:
        raise ValueError(f"column {bad}: the gaps run past row {index.shape[0] - 1}")
    return rows


def check_csc(
    shape: tuple[int, int], col_ptr: np.ndarray, rows: np.ndarray, codes: np.ndarray
) -> None:
    """Check the kept entries of a ``(rows, cols)`` matrix in CSC order: ``col_ptr`` int64
    ``(cols + 1,)`` rising from 0 to the entry count, ``rows`` int64 in range and strictly
    ascending within a column, ``codes`` uint8 or uint16 of the same length. Raises ValueError."""
    n_rows, n_cols = shape
    for what, array in (("col_ptr", col_ptr), ("kept_rows", rows), ("kept_codes", codes)):
        if not isinstance(array, np.ndarray) or array.ndim != 1:
            raise ValueError(f"{what} must be a 1-D numpy array")
    if col_ptr.dtype != np.int64 or col_ptr.shape != (n_cols + 1,):
        raise ValueError(f"col_ptr must be int64 of shape ({n_cols + 1},)")
    if rows.dtype != np.int64:
        raise ValueError(f"kept_rows must be int64, got {rows.dtype}")
    if codes.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"codes must be uint8 or uint16, got {codes.dtype}")
    if rows.shape != codes.shape:
        raise ValueError(f"kept_rows {rows.shape} and kept_codes {codes.shape} differ")
    if col_ptr[0] != 0 or col_ptr[-1] != codes.size or np.any(np.diff(col_ptr) < 0):
        raise ValueError(f"col_ptr must rise from 0 to {codes.size} (the kept entries)")
    if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= n_rows):
        raise ValueError(f"a kept row is outside 0..{n_rows - 1}")
    if not _kernels.csc_rows_rise(col_ptr, rows):
        raise ValueError("kept rows must be strictly ascending within a column")


def _previous_rows(col_ptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The row of the previous kept entry of each entry's column, -1 for a column's first."""
    previous = np.empty_like(rows)
    if rows.size:
        previous[0] = -1
        previous[1:] = rows[:-1]
        starts = col_ptr[:-1][col_ptr[:-1] < rows.size]
        previous[starts] = -1
    return previous


def encode_csc(
    col_ptr: np.ndarray,
    rows: np.ndarray,
    codes: np.ndarray,
    n_rows: int,
    index_bits: int,
    filler_code: int,
) -> RelativeIndex:
    """``encode_column_major`` from the kept entries in CSC order, without a dense matrix.

    Args:
        col_ptr: int64 ``(cols + 1,)``: column ``c`` is entries ``col_ptr[c]:col_ptr[c + 1]``.
        rows: int64 ``(kept,)``: each kept entry's row, strictly ascending within a column.
        codes: uint8 or uint16 ``(kept,)``: each kept entry's code; none is ``filler_code``.
        n_rows: the matrix's rows.
        index_bits, filler_code: as ``encode_column_major``.

    Memory and time grow with the stored entries and the columns, not with ``rows * cols``.
    """
    col_ptr, rows, codes = np.asarray(col_ptr), np.asarray(rows), np.asarray(codes)
    _check_index_bits(index_bits)
    check_csc((n_rows, col_ptr.size - 1), col_ptr, rows, codes)
    if not 0 <= filler_code <= np.iinfo(codes.dtype).max:
        raise ValueError(f"filler_code {filler_code} does not fit in {codes.dtype}")
    bad = np.flatnonzero(codes == filler_code)
    if bad.size:
        raise ValueError(
            f"the kept entry {int(bad[0])} has the code {filler_code} reserved for filler zeros; "
            "reserve a code that no kept connection uses"
        )
    period = 1 << index_bits  # a filler stands for itself and max_gap zeros before it
    gap = rows - _previous_rows(col_ptr, rows) - 1
    fillers = gap // period
    # Each kept entry is preceded by its fillers: it lands at the end of its run of slots.
    ends = np.cumsum(fillers + 1)
    n_entries = int(ends[-1]) if ends.size else 0
    entries = np.full(n_entries, filler_code, dtype=codes.dtype)
    gaps = np.full(n_entries, period - 1, dtype=np.uint8)
    entries[ends - 1] = codes
    gaps[ends - 1] = (gap - fillers * period).astype(np.uint8)
    stored_ptr = np.concatenate([[0], ends]).astype(np.int64)[col_ptr]
    return RelativeIndex(
        entries, gaps, stored_ptr, (int(n_rows), col_ptr.size - 1), index_bits, int(filler_code)
    )


def decode_csc(index: RelativeIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kept entries of a relative index in CSC order, filler zeros dropped: ``(col_ptr,
    rows, codes)`` (int64 ``(cols + 1,)``, int64 ``(kept,)``, the entries' dtype). The inverse of
    ``encode_csc``; memory grows with the stored entries and the columns only.

    Raises:
        ValueError: if the arrays are inconsistent or a column's entries run past the last row.
    """
    entries, gaps, col_ptr = _check_index(index)
    n_kept = entries.size - int(np.count_nonzero(entries == index.filler_code))
    kept_ptr = np.empty(col_ptr.size, dtype=np.int64)
    rows = np.empty(n_kept, dtype=np.int64)
    codes = np.empty(n_kept, dtype=entries.dtype)
    bad = _kernels.relative_index_kept(
        entries, gaps, col_ptr, index.filler_code, index.shape[0], kept_ptr, rows, codes
    )
    if bad >= 0:
        raise ValueError(f"column {bad}: the gaps run past row {index.shape[0] - 1}")
    return kept_ptr, rows, codes


def encode_column_major_reference(
    codes: np.ndarray, mask: np.ndarray, index_bits: int, filler_code: int
) -> RelativeIndex:
    """Slow, obvious encoder: walk each column, emitting fillers while the gap is too long."""
    codes, mask = np.asarray(codes), np.asarray(mask)
    rows, cols = codes.shape
    max_gap = 2**index_bits - 1
    entries, gaps, col_ptr = [], [], [0]
    for c in range(cols):
        zeros = 0
        for r in range(rows):
            if not mask[r, c]:
                zeros += 1
                continue
            while zeros > max_gap:
                entries.append(filler_code)
                gaps.append(max_gap)
                zeros -= max_gap + 1
            entries.append(int(codes[r, c]))
            gaps.append(zeros)
            zeros = 0
        col_ptr.append(len(entries))
    return RelativeIndex(
        np.array(entries, dtype=codes.dtype),
        np.array(gaps, dtype=np.uint8),
        np.array(col_ptr, dtype=np.int64),
        (rows, cols),
        index_bits,
        filler_code,
    )
