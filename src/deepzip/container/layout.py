"""Constants and byte-level building blocks of the .dzip format (docs/FORMAT.md).

The container stores Deep Compression's three stages (§2 relative indices with filler zeros,
§3 shared-weight codebooks, §4 canonical Huffman codes) in one file. This module holds what the
writer and the reader must agree on: the magic, the version, the field codes, the limits, and
the encodings of the small pieces (LEB128 varints, 4-bit code-length tables, bit-packed column
entry counts, the BLAKE2b-64 checksum). Whole records are laid out in ``writer.py`` and parsed
in ``reader.py``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from deepzip.compressed import MAX_WEIGHT_BITS as MAX_WEIGHT_BITS
from deepzip.core.relative_index import MAX_INDEX_BITS as MAX_INDEX_BITS
from deepzip.graph.shapes import MAX_SIZE

MAGIC = b"DZIP"
VERSION = 2
"""The version the writer writes: 2 stores the network as a graph of ops (``network.py``)."""
READ_VERSIONS = (1, 2)
"""Versions the reader reads; a version-1 network record (a list of ops) becomes a graph."""

FIXED_HEADER_SIZE = 14
"""magic (4) + version (1) + flags (1) + file_size (u64 little-endian, 8)."""
CHECKSUM_SIZE = 8
"""BLAKE2b with an 8-byte digest over every byte before the trailer."""
MIN_FILE_SIZE = FIXED_HEADER_SIZE + CHECKSUM_SIZE
FILE_SIZE_OFFSET = 6

FLAG_NETWORK = 0x01
"""File flag: a network record follows the layers."""
LAYER_FLAG_BIAS = 0x01
"""Layer flag: a bias of ``rows`` values is stored."""
LAYER_FLAG_UINT16 = 0x02
"""Layer flag: the layer's codes array is uint16 (else uint8)."""
LAYER_FLAG_HALF = 0x04
"""Layer flag: the codebook and the bias are stored as float16 (else float32)."""
LAYER_FLAGS = LAYER_FLAG_BIAS | LAYER_FLAG_UINT16 | LAYER_FLAG_HALF


def value_dtype(half: bool) -> str:
    """The little-endian numpy dtype of a stored codebook or bias."""
    return "<f2" if half else "<f4"


V1_OPS_WITH_LAYER = ("linear", "conv2d")
"""Version-1 ops that name a layer (their kinds are ``deepzip.graph.legacy.V1_KINDS``)."""
DTYPE_FLOAT32 = 1
"""Tensor dtype code: float32 little-endian, the only dtype of version 1."""

# --- limits (docs/FORMAT.md, "Limits") --------------------------------------------------------
MAX_CODE_LENGTH = 12
"""Longest Huffman code a table may hold: enough for any alphabet of at most 2**12 symbols, and
it keeps a decoder's lookup table at 4096 entries, whatever the file says."""
MAX_LAYERS = 65535
MAX_OPS = 65535
MAX_VALUES = 65535
"""Values of a network graph: its inputs and every node's outputs."""
MAX_GRAPH_INPUTS = 255
MAX_INPUT_NDIM = 8
MAX_ATTR_ITEMS = 1024
"""Items of an ``ints`` or ``floats`` attribute."""
MAX_TENSORS = 65535
MAX_NAME_BYTES = 1024
MAX_METADATA_BYTES = 4096
MAX_TENSOR_NDIM = 8
MAX_DIM = MAX_SIZE  # the graph's checks hold inferred shapes to the same limit
MAX_TENSOR_ELEMENTS = 2**40
"""Product of a tensor's dimensions, zeros counted as 1."""
MAX_POINTER_WIDTH = 31
MIN_PARAM, MAX_PARAM = -(2**31), 2**31 - 1
COLUMNS_PER_FILE_BYTE = 8
COLUMN_ALLOWANCE = 2**20
VARINT_MAX_BYTES = 9
"""Varints hold values below 2**63."""
VARINT64_MAX_BYTES = 10
"""An int attribute of a network node is an int64, zigzag-mapped to below 2**64: 10 bytes."""
MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1


def column_budget(file_size: int) -> int:
    """Most matrix columns all layers of a file may declare together.

    Decoding allocates per stored entry (bounded by the streams' bits) and per column (a column
    pointer); a column with entries costs at least one pointer bit, so only the columns of layers
    with no entries at all are not paid for by the file's bytes. This bounds them."""
    return COLUMNS_PER_FILE_BYTE * file_size + COLUMN_ALLOWANCE


def dense_extent(shape: tuple[int, ...]) -> int:
    """Product of the dimensions with zeros counted as 1: what decoding may allocate for."""
    total = 1
    for dim in shape:
        total *= max(dim, 1)
    return total


# --- varints ----------------------------------------------------------------------------------


def varint(value: int, max_bytes: int = VARINT_MAX_BYTES) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant group first, high bit = more."""
    limit = 1 << 64 if max_bytes == VARINT64_MAX_BYTES else 1 << (7 * max_bytes)
    if not 0 <= value < limit:
        raise ValueError(f"varint value {value} out of range")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(value: int) -> int:
    """Signed to unsigned: 0, -1, 1, -2, ... become 0, 1, 2, 3, ..."""
    return value * 2 if value >= 0 else -value * 2 - 1


def unzigzag(value: int) -> int:
    return value >> 1 if value % 2 == 0 else -(value >> 1) - 1


# --- code-length tables: one 4-bit nibble per symbol, high nibble first ------------------------


def nibble_bytes(count: int) -> int:
    return (count + 1) // 2


def pack_nibbles(lengths: np.ndarray) -> bytes:
    """uint8 code lengths (each <= 15) as nibbles; an odd count ends with a zero low nibble."""
    padded = np.zeros(2 * nibble_bytes(lengths.size), dtype=np.uint8)
    padded[: lengths.size] = lengths
    return ((padded[0::2] << 4) | padded[1::2]).astype(np.uint8).tobytes()


def unpack_nibbles(buffer: memoryview) -> np.ndarray:
    """All nibbles of ``buffer`` (uint8, ``2 * len(buffer)``), high nibble of each byte first."""
    raw = np.frombuffer(buffer, dtype=np.uint8)
    out = np.empty(2 * raw.size, dtype=np.uint8)
    out[0::2] = raw >> 4
    out[1::2] = raw & 0x0F
    return out


# --- column pointers: entry count of every column, bit-packed at one width ---------------------


def pointer_bytes(n_columns: int, width: int) -> int:
    return (n_columns * width + 7) // 8


def pack_counts(counts: np.ndarray, width: int) -> bytes:
    """Each count in ``width`` bits, most significant bit first, zero-padded to whole bytes."""
    if width == 0 or counts.size == 0:
        return b""
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    bits = ((counts.astype(np.int64)[:, None] >> shifts) & 1).astype(np.uint8)
    return np.packbits(bits.ravel()).tobytes()


def unpack_counts(buffer: memoryview, n_columns: int, width: int) -> tuple[np.ndarray, bool]:
    """The ``n_columns`` counts (int64) and whether the padding bits after them are all zero."""
    if width == 0:
        return np.zeros(n_columns, dtype=np.int64), True
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8))
    used = n_columns * width
    weights = np.left_shift(np.int64(1), np.arange(width - 1, -1, -1, dtype=np.int64))
    counts = bits[:used].reshape(n_columns, width).astype(np.int64) @ weights
    return counts, not bits[used:].any()


# --- checksum ----------------------------------------------------------------------------------


def checksum(data: bytes | memoryview) -> bytes:
    """BLAKE2b with an 8-byte digest (hashlib, no key, no salt)."""
    return hashlib.blake2b(data, digest_size=CHECKSUM_SIZE).digest()


def seal(without_trailer: bytes | bytearray) -> bytes:
    """Set the header's file_size field and append the checksum: the finished file.

    ``without_trailer`` is the whole file up to the trailer, header included. The fuzz harness
    uses this to repair a mutated file so that the parser, not the checksum, has to reject it.
    """
    data = bytearray(without_trailer)
    if len(data) < FIXED_HEADER_SIZE:
        raise ValueError(f"a .dzip file has a {FIXED_HEADER_SIZE}-byte header")
    size = len(data) + CHECKSUM_SIZE
    data[FILE_SIZE_OFFSET:FIXED_HEADER_SIZE] = size.to_bytes(8, "little")
    data += checksum(data)
    return bytes(data)
