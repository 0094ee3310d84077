"""Read a .dzip file back into a CompressedModel (docs/FORMAT.md).

Reading is two passes. ``parser.parse_file`` checks the header, the checksum and every record's
fields against the file size and the limits, allocating nothing large. Only when the whole file
has parsed does ``read_dzip`` decode the layers (Huffman streams, column pointers, the relative
index with its filler zeros; Deep Compression §2 and §4, EIE §III-B) straight into the kept
weights in CSC order (``CompressedLayer.from_csc``): what it allocates grows with the stored
entries and the columns, which the format bounds by the file size, never with the dense shape.
``open_dzip`` stops after the first pass and decodes one layer when asked (``DzipFile``), so that
a caller such as ``Engine.load`` holds one layer's kept weights at a time.

Every failure is a ``FormatError`` subclass naming the field (errors.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from deepzip.compressed import CompressedLayer, CompressedModel, module_has_parameters
from deepzip.container import layout
from deepzip.container.errors import FieldValueError
from deepzip.container.parser import LayerRecord, as_view, parse_file
from deepzip.core.huffman import huffman_decode
from deepzip.core.relative_index import RelativeIndex, decode_csc
from deepzip.graph.shapes import parameter_lookup


def _table(buffer: memoryview, size: int, field: str) -> np.ndarray:
    nibbles = layout.unpack_nibbles(buffer)
    if nibbles[size:].any():
        raise FieldValueError(field, "expected the padding nibble to be 0")
    longest = int(nibbles.max()) if nibbles.size else 0
    if longest > layout.MAX_CODE_LENGTH:
        raise FieldValueError(
            field, f"expected code lengths <= {layout.MAX_CODE_LENGTH}, got {longest}"
        )
    return nibbles[:size]


def _huffman(stream: memoryview, n: int, table: np.ndarray, n_bits: int, field: str) -> np.ndarray:
    payload = np.frombuffer(stream, dtype=np.uint8)
    if n_bits % 8 and payload[-1] & (0xFF >> (n_bits % 8)):
        raise FieldValueError(field, "expected the padding bits of the last byte to be 0")
    try:
        return huffman_decode(payload, n, table, n_bits)
    except ValueError as error:
        raise FieldValueError(field, str(error)) from None


def decode_entries(record: LayerRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode a layer's streams and pointers: ``(entries, gaps, col_ptr)`` of its relative index.

    Checks the code-length tables, the streams against their bit counts, the column counts
    against the entry count and the rows, and that filler zeros are where the writer puts them.
    """
    p = record.field
    rows, cols = record.matrix_shape
    code_table = _table(record.code_table, record.codebook_size, f"{p}.code_lengths")
    uint16 = bool(record.flags & layout.LAYER_FLAG_UINT16)
    if not uint16 and code_table[256:].any():
        raise FieldValueError(f"{p}.code_lengths", "expected no code above 255 for uint8 codes")
    gap_table = _table(record.gap_table, 1 << record.index_bits, f"{p}.gap_lengths")
    entries = _huffman(
        record.code_stream, record.n_entries, code_table, record.code_bits, f"{p}.codes"
    )
    entries = entries.astype(np.uint16 if uint16 else np.uint8, copy=False)
    gaps = _huffman(record.gap_stream, record.n_entries, gap_table, record.gap_bits, f"{p}.gaps")

    counts, padding_is_zero = layout.unpack_counts(record.pointers, cols, record.pointer_width)
    if not padding_is_zero:
        raise FieldValueError(f"{p}.pointers", "expected the padding bits to be 0")
    largest = int(counts.max()) if counts.size else 0
    if largest.bit_length() != record.pointer_width:
        raise FieldValueError(
            f"{p}.pointer_width",
            f"expected {largest.bit_length()} (the largest count is {largest}), "
            f"got {record.pointer_width}",
        )
    if largest > rows:
        raise FieldValueError(f"{p}.pointers", f"expected counts <= {rows} rows, got {largest}")
    col_ptr = np.zeros(cols + 1, dtype=np.int64)
    np.cumsum(counts, out=col_ptr[1:])
    if col_ptr[-1] != record.n_entries:
        raise FieldValueError(
            f"{p}.pointers", f"expected counts summing to {record.n_entries}, got {col_ptr[-1]}"
        )
    fillers = entries == 0
    max_gap = (1 << record.index_bits) - 1
    if np.any(gaps[fillers] != max_gap):
        raise FieldValueError(f"{p}.gaps", f"expected every filler zero to have gap {max_gap}")
    if np.any(fillers[col_ptr[1:][counts > 0] - 1]):
        raise FieldValueError(f"{p}.codes", "expected no filler zero at the end of a column")
    return entries, gaps, col_ptr


def _values(blob: memoryview, half: bool) -> np.ndarray:
    """A stored codebook or bias as float32 (float16 widens exactly)."""
    return np.frombuffer(blob, dtype=layout.value_dtype(half)).astype(np.float32)


def _decode_layer(record: LayerRecord) -> CompressedLayer:
    p = record.field
    entries, gaps, col_ptr = decode_entries(record)
    index = RelativeIndex(entries, gaps, col_ptr, record.matrix_shape, record.index_bits, 0)
    try:
        col_ptr, rows, codes = decode_csc(index)
    except ValueError as error:
        raise FieldValueError(f"{p}.gaps", str(error)) from None
    del entries, gaps, index  # one layer's decoding temporaries go before the next layer's
    half = bool(record.flags & layout.LAYER_FLAG_HALF)
    codebook = _values(record.codebook, half)
    bias = None
    if record.bias is not None:
        bias = _values(record.bias, half)
    try:
        return CompressedLayer.from_csc(
            name=record.name,
            kind=record.kind,
            codebook=codebook,
            weight_shape=record.shape,
            col_ptr=col_ptr,
            kept_rows=rows,
            kept_codes=codes,
            bias=bias,
            weight_bits=record.weight_bits,
            index_bits=record.index_bits,
            value_bits=16 if half else 32,
            metadata=record.metadata,
        )
    except ValueError as error:
        raise FieldValueError(p, str(error)) from None


class DzipFile:
    """A .dzip file whose structure and checksum have passed (``parse_file``), its layers decoded
    only when asked for, one at a time: what the engine loads from (``Engine.load``).

    Opening decodes the network and the plain tensors; ``layer(name)`` decodes one layer's
    streams into a ``CompressedLayer`` each time it is called and keeps nothing, so a caller that
    builds what it needs from each layer and drops it holds one layer's kept weights at a time.
    The file's bytes stay in memory (they are the compressed size). Decoding raises the same
    ``FormatError`` subclasses as ``read_dzip``.

    Attributes:
        network: the stored network graph, or None.
        tensors: the plain float32 tensors by name.
        layer_names: the compressed layers' names, in file order.
    """

    def __init__(self, view: memoryview, verify_checksum: bool = True) -> None:
        parsed = parse_file(view, verify_checksum)
        self._records = {record.name: record for record in parsed.layers}
        self.network = parsed.network
        self.tensors = {
            t.name: np.frombuffer(t.data, dtype="<f4").astype(np.float32).reshape(t.shape)
            for t in parsed.tensors
        }
        self.layer_names = tuple(self._records)
        self._parameter_shape = parameter_lookup(
            {r.name: (r.shape, r.bias is not None) for r in parsed.layers},
            {name: tuple(t.shape) for name, t in self.tensors.items()},
        )

    def layer(self, name: str) -> CompressedLayer:
        """The compressed layer ``name``, decoded now (KeyError if the file has none)."""
        return _decode_layer(self._records[name])

    def layers(self) -> Iterator[CompressedLayer]:
        """Every compressed layer in file order, each decoded when the iterator reaches it."""
        for name in self.layer_names:
            yield self.layer(name)

    def has_parameters(self, module: str) -> bool:
        """As ``CompressedModel.has_parameters``, from the records alone."""
        return module_has_parameters(module, self.layer_names, self.tensors, self._parameter_shape)

    def to_model(self) -> CompressedModel:
        """The whole ``CompressedModel``, every layer decoded (what ``read_dzip`` returns)."""
        layers = list(self.layers())
        try:
            return CompressedModel(layers, self.network, self.tensors)
        except ValueError as error:  # the parser checks all of this; keep the family closed
            raise FieldValueError("model", str(error)) from None


def open_dzip(path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview) -> DzipFile:
    """Check a .dzip file (a path, or its bytes) and open it for decoding layer by layer.

    Raises:
        FormatError: a subclass per failure of the header, checksum or records.
        OSError: the path cannot be read.
    """
    return DzipFile(as_view(path_or_bytes))


def read_dzip(path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview) -> CompressedModel:
    """Read a .dzip file (a path, or its bytes) into the CompressedModel that was written.

    Raises:
        FormatError: a subclass per failure (docs/FORMAT.md, "Errors"), naming the field.
        OSError: the path cannot be read.
    """
    return open_dzip(path_or_bytes).to_model()


__all__ = ["DzipFile", "open_dzip", "read_dzip"]
