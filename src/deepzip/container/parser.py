"""Parse a .dzip file's structure, trusting nothing in it (docs/FORMAT.md, "Reading").

``parse_file`` is the first of the reader's two passes. It checks, in this order, the file size,
the magic, the version, the declared file size and the checksum, then walks the records: every
varint, count, length and dimension is checked against the bytes that remain and against the
format's limits before it is used. It allocates nothing but small Python objects and views into
the file; the large parts (codebooks, Huffman streams, column pointers, tensor data) stay views
until ``reader.py`` decodes them.

Every failure is a ``FormatError`` subclass naming the field (errors.py).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from deepzip.container import layout
from deepzip.container import network as network_record
from deepzip.container.errors import (
    BadMagicError,
    ChecksumMismatchError,
    FieldValueError,
    LimitExceededError,
    OutOfBoundsError,
    TrailingDataError,
    TruncatedFileError,
    UnsupportedVersionError,
)
from deepzip.graph import Graph, GraphError
from deepzip.graph.shapes import NodeError, check_graph, parameter_lookup
from deepzip.kinds import KINDS, KINDS_BY_CODE

_LAYER_KINDS = {code: kind.name for code, kind in KINDS_BY_CODE.items()}


class _Cursor:
    """Reads fields from ``view[pos:end]``, checking each against the bytes that remain."""

    def __init__(self, view: memoryview, pos: int, end: int) -> None:
        self.view, self.pos, self.end = view, pos, end

    def take(self, n: int, field: str) -> memoryview:
        if n > self.end - self.pos:
            raise OutOfBoundsError(
                field,
                f"needs {n} bytes at offset {self.pos}, only {self.end - self.pos} remain "
                "before the checksum",
            )
        self.pos += n
        return self.view[self.pos - n : self.pos]

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def varint(self, field: str, max_bytes: int = layout.VARINT_MAX_BYTES) -> int:
        value = 0
        for i in range(max_bytes):
            byte = self.u8(field)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise FieldValueError(field, f"varint of {i + 1} bytes is not minimal")
                return value
        raise FieldValueError(field, f"varint longer than {max_bytes} bytes")

    def count(self, field: str, maximum: int) -> int:
        """A record count: at most ``maximum``, and each record takes at least one byte."""
        n = self.varint(field)
        if n > maximum:
            raise LimitExceededError(field, f"expected at most {maximum}, got {n}")
        if n > self.end - self.pos:
            raise OutOfBoundsError(
                field, f"{n} records cannot fit in the {self.end - self.pos} bytes left"
            )
        return n

    def name(self, field: str) -> str:
        n = self.varint(f"{field}_size")
        if n > layout.MAX_NAME_BYTES:
            raise LimitExceededError(
                f"{field}_size", f"expected at most {layout.MAX_NAME_BYTES} bytes, got {n}"
            )
        raw = self.take(n, field)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as error:
            raise FieldValueError(field, f"not UTF-8: {error}") from None


@dataclass
class LayerRecord:
    """A layer's fields as parsed, its blobs as views into the file (not yet decoded)."""

    field: str  # "layers[i]", the prefix of this layer's error fields
    name: str
    kind: str
    flags: int
    weight_bits: int
    index_bits: int
    shape: tuple[int, ...]
    metadata: dict
    n_entries: int
    code_bits: int
    gap_bits: int
    pointer_width: int
    header_bytes: int  # everything before the codebook
    codebook_size: int
    codebook: memoryview  # float16 or float32 (flags), little-endian
    bias: memoryview | None  # float16 or float32 (flags), little-endian
    code_table: memoryview
    gap_table: memoryview
    pointers: memoryview
    code_stream: memoryview
    gap_stream: memoryview

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the kind's matrix view: what the relative index is over."""
        return KINDS[self.kind].matrix_shape(self.shape)


@dataclass
class TensorRecord:
    name: str
    shape: tuple[int, ...]
    header_bytes: int
    data: memoryview


@dataclass
class ParsedFile:
    size: int
    header_bytes: int  # fixed header + layer count
    layers: list[LayerRecord]
    version: int
    network: Graph | None
    network_bytes: int
    tensors: list[TensorRecord]
    tensor_count_bytes: int


def as_view(path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview) -> memoryview:
    """The file's bytes: read from a path (after its fixed header passed ``check_header``, so
    that a file of another kind is not read whole), or the given buffer itself."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return memoryview(path_or_bytes).cast("B")
    with open(path_or_bytes, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header = f.read(layout.FIXED_HEADER_SIZE)
        check_header(memoryview(header), size)
        # Read into one buffer of the checked size: ``header + f.read()`` held the file twice.
        data = bytearray(size)
        data[: len(header)] = header
        view = memoryview(data)
        filled = len(header)
        while filled < size:
            n = f.readinto(view[filled:])
            if not n:
                break
            filled += n
        if filled != size:  # the file shrank after fstat
            raise TruncatedFileError("header.file_size", f"expected {size} bytes, got {filled}")
        return view.toreadonly()


def check_header(header: memoryview, size: int) -> None:
    """Steps 1-3 of FORMAT.md's order of checks: size, magic, version, declared file size.

    ``header`` holds at least the file's first ``min(size, FIXED_HEADER_SIZE)`` bytes.
    """
    if size < layout.MIN_FILE_SIZE:
        raise TruncatedFileError(
            "header", f"expected at least {layout.MIN_FILE_SIZE} bytes, got {size}"
        )
    if header[:4] != layout.MAGIC:
        raise BadMagicError("header.magic", f"expected {layout.MAGIC!r}, got {bytes(header[:4])!r}")
    if header[4] not in layout.READ_VERSIONS:
        raise UnsupportedVersionError(
            "header.version", f"expected one of {layout.READ_VERSIONS}, got {header[4]}"
        )
    declared = int.from_bytes(header[layout.FILE_SIZE_OFFSET : layout.FIXED_HEADER_SIZE], "little")
    if declared > size:
        raise TruncatedFileError("header.file_size", f"expected {declared} bytes, got {size}")
    if declared < size:
        raise TrailingDataError("header.file_size", f"expected {declared} bytes, got {size}")


def parse_file(view: memoryview, verify_checksum: bool = True) -> ParsedFile:
    """Check the header and checksum and walk every record; decode nothing large."""
    size = len(view)
    check_header(view, size)
    body_end = size - layout.CHECKSUM_SIZE
    if verify_checksum:
        stored, computed = bytes(view[body_end:]), layout.checksum(view[:body_end])
        if stored != computed:
            raise ChecksumMismatchError(
                "trailer.checksum", f"expected {computed.hex()}, got {stored.hex()}"
            )
    flags = view[5]
    if flags & ~layout.FLAG_NETWORK:
        raise FieldValueError("header.flags", f"expected bits 0x01 only, got {flags:#04x}")

    cursor = _Cursor(view, layout.FIXED_HEADER_SIZE, body_end)
    n_layers = cursor.count("header.layer_count", layout.MAX_LAYERS)
    header_bytes = cursor.pos
    columns = layout.column_budget(size)
    layers: list[LayerRecord] = []
    layer_names: set[str] = set()
    for i in range(n_layers):
        record = _parse_layer(cursor, f"layers[{i}]", columns)
        columns -= record.matrix_shape[1]
        if record.name in layer_names:
            raise FieldValueError(f"layers[{i}].name", f"duplicate layer name {record.name!r}")
        layer_names.add(record.name)
        layers.append(record)

    version = view[4]
    network, v1_ops, start = None, None, cursor.pos
    if flags & layout.FLAG_NETWORK:
        if version == 1:
            v1_ops = network_record.parse_v1(cursor)
        else:
            network = network_record.parse_v2(cursor)
    network_bytes = cursor.pos - start

    start = cursor.pos
    n_tensors = cursor.count("tensors.count", layout.MAX_TENSORS)
    tensor_count_bytes = cursor.pos - start
    tensors: list[TensorRecord] = []
    tensor_names: set[str] = set()
    for t in range(n_tensors):
        tensor = _parse_tensor(cursor, f"tensors[{t}]")
        if tensor.name in tensor_names:
            raise FieldValueError(f"tensors[{t}].name", f"duplicate tensor name {tensor.name!r}")
        tensor_names.add(tensor.name)
        tensors.append(tensor)
    if cursor.pos != body_end:
        raise TrailingDataError(
            "body", f"expected the checksum at offset {cursor.pos}, it is at {body_end}"
        )

    for j, (_, layer, _) in enumerate(v1_ops or []):
        if layer is not None and layer not in layer_names:
            if f"{layer}.weight" not in tensor_names:
                raise FieldValueError(
                    f"network.ops[{j}].layer",
                    f"expected a layer or a tensor {layer + '.weight'!r}, got {layer!r}",
                )
    if v1_ops is not None:
        network = network_record.graph_of_v1(v1_ops)
    if network is not None:
        check_network(network, layers, tensors)
    return ParsedFile(
        size, header_bytes, layers, version, network, network_bytes, tensors, tensor_count_bytes
    )


def check_network(network: Graph, layers: list[LayerRecord], tensors: list[TensorRecord]) -> None:
    """Step 6 of the order of checks: the graph's semantic rules (``deepzip.graph.shapes``)
    against the shapes of the layers and tensors the file holds."""
    lookup = parameter_lookup(
        {r.name: (r.shape, r.bias is not None) for r in layers}, {t.name: t.shape for t in tensors}
    )
    try:
        check_graph(network, lookup)
    except NodeError as error:
        where = "network" if error.index is None else f"network.nodes[{error.index}]"
        if error.attribute is not None:
            where += f".{error.attribute}"
        raise FieldValueError(where, str(error)) from None
    except GraphError as error:
        raise FieldValueError("network", str(error)) from None


def _parse_layer(cursor: _Cursor, p: str, columns: int) -> LayerRecord:
    """One layer record; ``columns`` is what remains of the file's column budget."""
    start = cursor.pos
    name = cursor.name(f"{p}.name")
    code = cursor.u8(f"{p}.kind")
    kind = _LAYER_KINDS.get(code)
    if kind is None:
        raise FieldValueError(f"{p}.kind", f"expected one of {_LAYER_KINDS}, got {code}")
    flags = cursor.u8(f"{p}.flags")
    if flags & ~layout.LAYER_FLAGS:
        raise FieldValueError(
            f"{p}.flags", f"expected bits {layout.LAYER_FLAGS:#04x} only, got {flags:#04x}"
        )
    weight_bits = cursor.u8(f"{p}.weight_bits")
    if not 1 <= weight_bits <= layout.MAX_WEIGHT_BITS:
        raise FieldValueError(
            f"{p}.weight_bits", f"expected 1..{layout.MAX_WEIGHT_BITS}, got {weight_bits}"
        )
    index_bits = cursor.u8(f"{p}.index_bits")
    if not 1 <= index_bits <= layout.MAX_INDEX_BITS:
        raise FieldValueError(
            f"{p}.index_bits", f"expected 1..{layout.MAX_INDEX_BITS}, got {index_bits}"
        )
    if flags & layout.LAYER_FLAG_BIAS and not KINDS[kind].has_bias:
        raise FieldValueError(f"{p}.flags", f"expected no bias for the {kind} kind (bit 0 set)")
    shape = []
    for d in range(KINDS[kind].weight_ndim):
        dim = cursor.varint(f"{p}.shape[{d}]")
        if dim > layout.MAX_DIM:
            raise LimitExceededError(f"{p}.shape[{d}]", f"expected <= {layout.MAX_DIM}, got {dim}")
        shape.append(dim)
    shape = tuple(shape)
    rows, cols = KINDS[kind].matrix_shape(shape)
    if cols > columns:
        raise LimitExceededError(
            f"{p}.shape",
            f"expected at most {columns} more matrix columns for a file of this size, got "
            f"{cols} (shape {shape})",
        )
    metadata = _parse_metadata(cursor, f"{p}.metadata")
    codebook_size = cursor.varint(f"{p}.codebook_size")
    if not 1 <= codebook_size <= 1 << weight_bits:
        raise FieldValueError(
            f"{p}.codebook_size", f"expected 1..{1 << weight_bits}, got {codebook_size}"
        )
    n_entries = cursor.varint(f"{p}.entry_count")
    if n_entries > rows * cols:
        raise FieldValueError(
            f"{p}.entry_count", f"expected at most {rows * cols} (rows x cols), got {n_entries}"
        )
    code_bits = cursor.varint(f"{p}.code_bits")
    gap_bits = cursor.varint(f"{p}.gap_bits")
    for field, bits in ((f"{p}.code_bits", code_bits), (f"{p}.gap_bits", gap_bits)):
        if not n_entries <= bits <= layout.MAX_CODE_LENGTH * n_entries:
            raise FieldValueError(
                field,
                f"expected {n_entries}..{layout.MAX_CODE_LENGTH * n_entries} for {n_entries} "
                f"entries, got {bits}",
            )
    width = cursor.u8(f"{p}.pointer_width")
    if width > min(rows.bit_length(), layout.MAX_POINTER_WIDTH):
        raise FieldValueError(
            f"{p}.pointer_width", f"expected at most {rows.bit_length()} bits, got {width}"
        )
    header_bytes = cursor.pos - start

    value_bytes = 2 if flags & layout.LAYER_FLAG_HALF else 4
    codebook = cursor.take(value_bytes * codebook_size, f"{p}.codebook")
    if bytes(codebook[:value_bytes]) != bytes(value_bytes):
        raise FieldValueError(
            f"{p}.codebook",
            f"expected codebook[0] == +0.0, got {codebook[:value_bytes].hex()}",
        )
    bias = None
    if flags & layout.LAYER_FLAG_BIAS:
        bias = cursor.take(value_bytes * rows, f"{p}.bias")
    code_table = cursor.take(layout.nibble_bytes(codebook_size), f"{p}.code_lengths")
    gap_table = cursor.take(layout.nibble_bytes(1 << index_bits), f"{p}.gap_lengths")
    pointers = cursor.take(layout.pointer_bytes(cols, width), f"{p}.pointers")
    code_stream = cursor.take((code_bits + 7) // 8, f"{p}.codes")
    gap_stream = cursor.take((gap_bits + 7) // 8, f"{p}.gaps")
    return LayerRecord(
        p,
        name,
        kind,
        flags,
        weight_bits,
        index_bits,
        shape,
        metadata,
        n_entries,
        code_bits,
        gap_bits,
        width,
        header_bytes,
        codebook_size,
        codebook,
        bias,
        code_table,
        gap_table,
        pointers,
        code_stream,
        gap_stream,
    )


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _parse_metadata(cursor: _Cursor, field: str) -> dict:
    n = cursor.varint(f"{field}_size")
    if n > layout.MAX_METADATA_BYTES:
        raise LimitExceededError(
            f"{field}_size", f"expected at most {layout.MAX_METADATA_BYTES} bytes, got {n}"
        )
    raw = cursor.take(n, field)
    if n == 0:
        return {}
    try:
        value = json.loads(str(raw, "utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise FieldValueError(field, f"expected a JSON object: {error}") from None
    if not isinstance(value, dict):
        raise FieldValueError(field, f"expected a JSON object, got {type(value).__name__}")
    return value


def _parse_tensor(cursor: _Cursor, p: str) -> TensorRecord:
    start = cursor.pos
    name = cursor.name(f"{p}.name")
    dtype = cursor.u8(f"{p}.dtype")
    if dtype != layout.DTYPE_FLOAT32:
        raise FieldValueError(
            f"{p}.dtype", f"expected {layout.DTYPE_FLOAT32} (float32), got {dtype}"
        )
    ndim = cursor.u8(f"{p}.ndim")
    if ndim > layout.MAX_TENSOR_NDIM:
        raise LimitExceededError(f"{p}.ndim", f"expected <= {layout.MAX_TENSOR_NDIM}, got {ndim}")
    shape = []
    for d in range(ndim):
        dim = cursor.varint(f"{p}.shape[{d}]")
        if dim > layout.MAX_DIM:
            raise LimitExceededError(f"{p}.shape[{d}]", f"expected <= {layout.MAX_DIM}, got {dim}")
        shape.append(dim)
    shape = tuple(shape)
    if layout.dense_extent(shape) > layout.MAX_TENSOR_ELEMENTS:
        raise LimitExceededError(
            f"{p}.shape", f"expected <= {layout.MAX_TENSOR_ELEMENTS} elements, got {shape}"
        )
    header_bytes = cursor.pos - start
    data = cursor.take(4 * math.prod(shape), f"{p}.data")
    return TensorRecord(name, shape, header_bytes, data)
