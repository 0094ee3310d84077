"""The engine's in-memory layout of one compressed layer (EIE §III-B, Fig. 3).

EIE spreads the rows of a weight matrix over its processing elements (PEs): row ``r`` belongs to
PE ``r % pes``, where it is local row ``r // pes``. Each PE stores its own sub-matrix, the rows
``p, p + pes, p + 2 pes, ...``, in CSC order with relative row indices counted in *local* rows and
filler zeros where a gap does not fit in ``index_bits`` bits (so each PE has its own fillers), plus
its own column pointers. Because every PE owns whole output rows, the PEs never write to the same
output, and all of them share the broadcast of one non-zero activation (EIE's activation queue).

Here the PEs are threads. All PEs' entries sit in one flat array, PE 0's columns first, and
``col_ptr`` (``(pes, cols + 1)``) holds absolute offsets into it, so that one numba kernel with a
``prange`` over PEs gets plain arrays.

Entry formats, chosen from the layer's bit widths:

- ``weight_bits + index_bits <= 8`` (EIE's 4-bit code and 4-bit index among them): *packed*, one
  uint8 per entry, ``code | gap << weight_bits``;
- otherwise *split*: ``codes`` as uint8 (``weight_bits <= 8``) or uint16, and ``gaps`` as uint8.

Column pointers are int32 when the entry count fits, else int64. The codebook stays float32 with
``codebook[0] == 0.0``: filler zeros and pruned weights both have code 0.

The per-PE encoding is ``deepzip.core.encode_column_major`` applied to each PE's rows; it is built
straight from the layer's kept weights (``CompressedLayer.csc()``), never from dense codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from deepzip.compressed import CompressedLayer
from deepzip.engine import _layout_kernels as _kernels

POINTER_BYTES = 4
"""Bytes per column pointer in the memory bound (int32, as stored below 2**31 entries)."""

MEMORY_BOUND_FACTOR = 1.25
"""The issue's bound on resident bytes: 1.25 x (entries x 1 byte + pointers + codebook)."""


def default_pes() -> int:
    """Processing elements by default: numba's thread count."""
    return int(numba.get_num_threads())


@dataclass(frozen=True, eq=False)
class EngineLayer:
    """One weight matrix, rows interleaved over ``pes`` processing elements.

    Attributes:
        name: the compressed layer's name.
        shape: ``(rows, cols)`` = (outputs, inputs): the layer's matrix view (``deepzip.kinds``),
            or a block of it.
        pes: processing elements; row ``r`` belongs to PE ``r % pes``.
        codebook: float32 ``(K,)``, ``codebook[0] == 0.0``.
        entries: packed uint8 entries, or the codes (uint8 / uint16) of a split layout, all PEs.
        gaps: uint8 relative indices of a split layout, or None when packed.
        col_ptr: int32 / int64 ``(pes, cols + 1)``: PE ``p``'s column ``j`` is
            ``entries[col_ptr[p, j]:col_ptr[p, j + 1]]``.
        bias: float32 ``(rows,)`` or None.
        weight_bits: bits per code.
        index_bits: bits per relative index.
    """

    name: str
    shape: tuple[int, int]
    pes: int
    codebook: np.ndarray
    entries: np.ndarray
    gaps: np.ndarray | None
    col_ptr: np.ndarray
    bias: np.ndarray | None
    weight_bits: int
    index_bits: int

    def __post_init__(self) -> None:
        """Check the layout, so that the kernels, which trust it, cannot index out of bounds."""
        rows, cols = self.shape
        if self.pes < 1 or rows < 0 or cols < 0:
            raise ValueError(f"layer {self.name!r}: bad pes {self.pes} or shape {self.shape}")
        if self.codebook.dtype != np.float32 or self.codebook.ndim != 1 or not self.codebook.size:
            raise ValueError(f"layer {self.name!r}: codebook must be non-empty 1-D float32")
        if self.codebook[0] != 0.0:
            raise ValueError(f"layer {self.name!r}: codebook[0] must be 0.0 (fillers use code 0)")
        packed = self.weight_bits + self.index_bits <= 8
        if packed != (self.gaps is None):
            raise ValueError(
                f"layer {self.name!r}: {self.weight_bits}-bit codes and {self.index_bits}-bit "
                f"gaps are stored {'packed, without' if packed else 'split, with'} a gaps array"
            )
        code_dtype = np.uint8 if packed or self.weight_bits <= 8 else np.uint16
        if self.entries.dtype != code_dtype or self.entries.ndim != 1:
            raise ValueError(f"layer {self.name!r}: entries must be 1-D {np.dtype(code_dtype)}")
        if not packed and (self.gaps.dtype != np.uint8 or self.gaps.shape != self.entries.shape):
            raise ValueError(f"layer {self.name!r}: gaps must be uint8 like the entries")
        pointer_shape = (self.pes, cols + 1)
        if self.col_ptr.dtype not in (np.int32, np.int64) or self.col_ptr.shape != pointer_shape:
            raise ValueError(f"layer {self.name!r}: col_ptr must be int32/int64 (pes, cols + 1)")
        for name in ("entries", "gaps", "col_ptr", "codebook", "bias"):
            array = getattr(self, name)
            if array is not None and not array.flags.c_contiguous:
                raise ValueError(f"layer {self.name!r}: {name} must be C-contiguous")
        if self.bias is not None and (self.bias.dtype != np.float32 or self.bias.shape != (rows,)):
            raise ValueError(f"layer {self.name!r}: bias must be float32 ({rows},)")
        pe_rows = np.array([len(range(p, rows, self.pes)) for p in range(self.pes)])
        gaps = self.entries if self.gaps is None else self.gaps
        bad = _kernels.check_layout(
            self.entries, gaps, self.code_mask, self.gap_shift, self.col_ptr, pe_rows,
            self.codebook.size,
        )  # fmt: skip
        if bad >= 0:
            p, j = divmod(int(bad), cols + 1)
            raise ValueError(
                f"layer {self.name!r}: PE {p}, column {j}: pointers out of order or past the "
                "entries, rows past the PE's last row, or a code past the codebook"
            )

    @classmethod
    def from_compressed(
        cls,
        layer: CompressedLayer,
        pes: int | None = None,
        rows: slice | None = None,
        cols: slice | None = None,
    ) -> EngineLayer:
        """Build the layout of ``layer``'s matrix view (``deepzip.kinds``), optionally of a block.

        Built from ``layer.csc()``, the kept weights only: the dense codes are never formed.

        Args:
            layer: a compressed layer of any kind; its ``(rows, cols)`` matrix view is laid out.
            pes: processing elements (default: numba's thread count); may exceed the rows.
            rows: a slice (step 1) of output rows to keep (a convolution group), default all.
            cols: a slice (step 1) of columns to keep (a transposed convolution's group).
        """
        pes = default_pes() if pes is None else int(pes)
        if pes < 1:
            raise ValueError(f"pes must be at least 1, got {pes}")
        n_rows, n_cols = layer.matrix_shape
        r0, r1 = _bounds(rows, n_rows, layer.name, "rows")
        c0, c1 = _bounds(cols, n_cols, layer.name, "cols")
        col_ptr, row_index, codes = layer.csc()
        col_ptr = np.asarray(col_ptr, dtype=np.int64)[c0 : c1 + 1]
        # Views of the layer's arrays where they already have the right dtype: no copy.
        row_index = np.asarray(row_index, dtype=np.int64)[col_ptr[0] : col_ptr[-1]]
        row_index = np.ascontiguousarray(row_index)
        code_dtype = np.uint8 if layer.weight_bits <= 8 else np.uint16
        codes = np.asarray(codes)[col_ptr[0] : col_ptr[-1]]
        codes = np.ascontiguousarray(codes.astype(code_dtype, copy=False))
        col_ptr = col_ptr - col_ptr[0]
        if (r0, r1) != (0, n_rows):
            keep = (row_index >= r0) & (row_index < r1)
            kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
            col_ptr = kept_before[col_ptr]
            row_index, codes = row_index[keep] - r0, codes[keep]
        _check_csc(layer.name, col_ptr, row_index, codes, r1 - r0)
        max_gap = (1 << layer.index_bits) - 1
        counts = np.zeros((pes, c1 - c0), dtype=np.int64)
        _kernels.pe_layout_counts(col_ptr, row_index, pes, max_gap, counts)
        # PE 0's columns first, then PE 1's, ...: absolute offsets into one flat array.
        flat = np.concatenate([[0], np.cumsum(counts.ravel())])
        ptr_dtype = np.int32 if flat[-1] <= np.iinfo(np.int32).max else np.int64
        pe_ptr = np.empty((pes, c1 - c0 + 1), dtype=np.int64)
        pe_ptr[:, :-1] = flat[:-1].reshape(pes, c1 - c0) if c1 > c0 else 0
        pe_ptr[:, -1] = flat[(np.arange(pes) + 1) * (c1 - c0)]
        all_codes = np.empty(int(flat[-1]), dtype=code_dtype)
        all_gaps = np.empty(int(flat[-1]), dtype=np.uint8)
        _kernels.pe_layout_encode(
            col_ptr, row_index, codes, pes, max_gap, pe_ptr, all_codes, all_gaps
        )
        del row_index, codes, col_ptr  # this layer's inputs: only the layout's arrays remain
        if layer.weight_bits + layer.index_bits <= 8:
            # code | gap << weight_bits, in place: no temporary per entry.
            np.left_shift(all_gaps, np.uint8(layer.weight_bits), out=all_gaps)
            entries = np.bitwise_or(all_codes, all_gaps, out=all_codes)
            gaps = None
            del all_gaps
        else:
            entries, gaps = all_codes, all_gaps
        bias = layer.bias
        return cls(
            name=layer.name,
            shape=(r1 - r0, c1 - c0),
            pes=pes,
            codebook=np.ascontiguousarray(layer.codebook, dtype=np.float32),
            entries=np.ascontiguousarray(entries),
            gaps=None if gaps is None else np.ascontiguousarray(gaps),
            col_ptr=pe_ptr.astype(ptr_dtype),
            bias=None if bias is None else np.ascontiguousarray(bias[r0:r1], dtype=np.float32),
            weight_bits=layer.weight_bits,
            index_bits=layer.index_bits,
        )

    # -- the layout -----------------------------------------------------------------------------

    @property
    def packed(self) -> bool:
        """True when code and relative index share one byte."""
        return self.gaps is None

    @property
    def local_rows(self) -> int:
        """Rows per PE (the last PEs may own one fewer, or none)."""
        return -(-self.shape[0] // self.pes)

    @property
    def code_mask(self) -> int:
        """Mask that extracts a code from an entry (all bits for a split layout)."""
        return (1 << self.weight_bits) - 1 if self.packed else 0xFFFF

    @property
    def gap_shift(self) -> int:
        """Shift that extracts the relative index from an entry (0 for a split layout)."""
        return self.weight_bits if self.packed else 0

    def entry_codes(self) -> np.ndarray:
        """The code of every stored entry (int64, filler zeros included)."""
        return np.asarray(self.entries, dtype=np.int64) & self.code_mask

    def entry_gaps(self) -> np.ndarray:
        """The relative index of every stored entry (int64)."""
        source = self.entries if self.packed else self.gaps
        return np.asarray(source, dtype=np.int64) >> self.gap_shift

    # -- sizes ----------------------------------------------------------------------------------

    @property
    def n_entries(self) -> int:
        """Stored entries over all PEs, filler zeros included."""
        return int(self.entries.size)

    @property
    def n_fillers(self) -> int:
        """Filler zeros among the stored entries."""
        return int(np.count_nonzero(self.entry_codes() == 0))

    def pe_entries(self) -> np.ndarray:
        """Stored entries per PE (int64 ``(pes,)``): the load balance over PEs."""
        return (self.col_ptr[:, -1] - self.col_ptr[:, 0]).astype(np.int64)

    @property
    def resident_bytes(self) -> int:
        """Bytes the layout keeps in memory: entries, gaps, pointers, codebook, bias."""
        arrays = (self.entries, self.gaps, self.col_ptr, self.codebook, self.bias)
        return sum(a.nbytes for a in arrays if a is not None)

    @property
    def memory_bound_bytes(self) -> float:
        """The issue's bound: 1.25 x (entries x one byte + pointers + codebook)."""
        pointers = self.pes * (self.shape[1] + 1) * POINTER_BYTES
        return MEMORY_BOUND_FACTOR * (self.n_entries + pointers + self.codebook.nbytes)


def _bounds(part: slice | None, size: int, name: str, what: str) -> tuple[int, int]:
    """``(start, stop)`` of a step-1 slice of ``range(size)``."""
    if part is None:
        return 0, size
    start, stop, step = part.indices(size)
    if step != 1 or stop < start:
        raise ValueError(f"layer {name!r}: {what} must be a slice with step 1, got {part}")
    return start, stop


_CSC_PROBLEMS = {
    1: "a kept weight's row is outside 0..{last}",
    2: "a kept weight has code 0 (reserved for zero)",
    3: "column pointers out of order",
    4: "rows must rise within each column",
}


def _check_csc(name: str, col_ptr, rows, codes, n_rows: int) -> None:
    """The kernels trust the CSC arrays: rows inside the matrix and rising within each column,
    no kept weight with code 0 (the filler's), pointers rising to the entry count."""
    if rows.size != codes.size:
        raise ValueError(f"layer {name!r}: {rows.size} rows for {codes.size} codes")
    problem = _kernels.csc_problem(col_ptr, rows, codes, n_rows)
    if problem:
        raise ValueError(f"layer {name!r}: " + _CSC_PROBLEMS[problem].format(last=n_rows - 1))
