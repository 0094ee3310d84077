"""Write a CompressedModel as a .dzip file: deterministic bytes, atomic replacement.

Each compressed layer is stored the way Deep Compression §2-§4 and EIE §III-B describe it: the
weight's matrix view (``deepzip.kinds``: rows = outputs, one column per input), built from the
layer's kept weights without any dense array, as a relative index in column-major (CSC) order with
filler zeros (code 0, the exact zero of the codebook), its per-entry cluster codes and per-entry
gaps each coded with their own canonical Huffman code, stored as code lengths only, and the
columns' entry counts bit-packed at the narrowest width that holds the largest. The byte layout
is specified in docs/FORMAT.md; this module and ``reader.py`` implement it.

The same model always gives the same bytes: no timestamps, tensors in the model's dict order,
metadata as JSON with sorted keys, Huffman tables built deterministically.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from deepzip._files import atomic_write
from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.container import layout
from deepzip.container.network import network_bytes, raw_network
from deepzip.core.huffman import code_lengths, huffman_encode
from deepzip.core.relative_index import encode_csc
from deepzip.kinds import KINDS


def write_dzip(path: str | os.PathLike, model: CompressedModel) -> int:
    """Write ``model`` to ``path`` atomically; return the number of bytes written.

    The file is encoded in memory, written to a temporary file in the same directory, flushed to
    disk and renamed over ``path``, so ``path`` holds either its old content or the complete new
    file, and a failure leaves no temporary file behind.

    Raises:
        ValueError: the model cannot be stored in the format (see docs/FORMAT.md, "Limits"),
            e.g. weight_bits above 15 or non-float32 tensors. Nothing is written.
        OSError: from the file system; the temporary file is removed.
    """
    data = dzip_bytes(model)
    atomic_write(path, lambda f: f.write(data))
    return len(data)


def dzip_bytes(model: CompressedModel) -> bytes:
    """The .dzip file of ``model`` as bytes (what ``write_dzip`` writes)."""
    if len(model.layers) > layout.MAX_LAYERS:
        raise ValueError(f"{len(model.layers)} layers, more than the format's {layout.MAX_LAYERS}")
    model.check_network()  # GraphError, a ValueError: the reader would refuse the file
    flags = layout.FLAG_NETWORK if model.network is not None else 0
    out = bytearray(layout.MAGIC + bytes([layout.VERSION, flags]) + bytes(8))
    out += layout.varint(len(model.layers))
    for layer in model.layers:
        out += _layer_record(layer)
    if model.network is not None:
        out += network_bytes(raw_network(model.network))
    out += _tensors_record(model.tensors)
    data = layout.seal(out)
    columns = sum(layer.matrix_shape[1] for layer in model.layers)
    if columns > layout.column_budget(len(data)):
        raise ValueError(
            f"the layers have {columns} matrix columns, more than the "
            f"{layout.column_budget(len(data))} a file of {len(data)} bytes may declare "
            f"({layout.COLUMNS_PER_FILE_BYTE} per byte + {layout.COLUMN_ALLOWANCE}; "
            "docs/FORMAT.md, Limits)"
        )
    return data


def layer_record_size(layer: CompressedLayer) -> int:
    """The bytes ``layer``'s record takes in the file (everything but the file header, the
    network record and the checksum)."""
    return len(_layer_record(layer))


def smallest_index_bits(layer: CompressedLayer) -> int:
    """The relative-index width (1 to ``layout.MAX_INDEX_BITS``) that makes ``layer``'s record
    smallest: narrow gaps cost fewer bits each but need filler zeros where a gap does not fit
    (Deep Compression §2 fixes 5 bits for fully connected layers and 8 for convolutions). Ties go
    to the wider index, which has fewer fillers for the engine to skip."""
    sizes = {
        bits: layer_record_size(dataclasses.replace(layer, index_bits=bits))
        for bits in range(layout.MAX_INDEX_BITS, 0, -1)
    }
    return min(sizes, key=lambda bits: (sizes[bits], -bits))


def _name_bytes(name: str, what: str) -> bytes:
    if not isinstance(name, str):
        raise ValueError(f"{what}: the name must be a str, got {type(name).__name__}")
    encoded = name.encode("utf-8")  # UnicodeEncodeError (a ValueError) on lone surrogates
    if len(encoded) > layout.MAX_NAME_BYTES:
        raise ValueError(
            f"{what}: the name takes {len(encoded)} bytes, more than {layout.MAX_NAME_BYTES}"
        )
    return layout.varint(len(encoded)) + encoded


def _metadata_bytes(layer: CompressedLayer) -> bytes:
    """Compact JSON with sorted keys; empty for ``{}``. It must read back equal."""
    if not isinstance(layer.metadata, dict):
        raise ValueError(f"layer {layer.name!r}: metadata must be a dict")
    if not layer.metadata:
        return b""
    try:
        text = json.dumps(
            layer.metadata,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"layer {layer.name!r}: metadata is not JSON data: {error}") from None
    if json.loads(text) != layer.metadata:
        raise ValueError(
            f"layer {layer.name!r}: metadata would not read back equal (use str keys and "
            "lists, not tuples)"
        )
    encoded = text.encode("utf-8")
    if len(encoded) > layout.MAX_METADATA_BYTES:
        raise ValueError(
            f"layer {layer.name!r}: metadata takes {len(encoded)} bytes, more than "
            f"{layout.MAX_METADATA_BYTES}"
        )
    return encoded


def _check_dims(shape: tuple[int, ...], what: str) -> None:
    for dim in shape:
        if dim > layout.MAX_DIM:
            raise ValueError(f"{what}: dimension {dim} exceeds {layout.MAX_DIM}")


def _layer_record(layer: CompressedLayer) -> bytes:
    what = f"layer {layer.name!r}"
    name = _name_bytes(layer.name, what)
    if not 1 <= layer.weight_bits <= layout.MAX_WEIGHT_BITS:
        raise ValueError(
            f"{what}: weight_bits {layer.weight_bits} not in 1..{layout.MAX_WEIGHT_BITS}"
        )
    if not 1 <= layer.index_bits <= layout.MAX_INDEX_BITS:
        raise ValueError(f"{what}: index_bits {layer.index_bits} not in 1..{layout.MAX_INDEX_BITS}")
    shape = layer.weight_shape
    _check_dims(shape, what)
    metadata = _metadata_bytes(layer)

    # The relative index of the kind's matrix view, CSC order, fillers carry code 0.
    kind = KINDS[layer.kind]
    col_ptr, rows, codes = layer.csc()
    index = encode_csc(col_ptr, rows, codes, layer.matrix_shape[0], layer.index_bits, 0)
    codebook_size = len(layer.codebook)
    code_frequency = np.bincount(index.entries, minlength=codebook_size)
    code_table = code_lengths(code_frequency, layout.MAX_CODE_LENGTH)
    code_stream, code_bits = huffman_encode(index.entries, code_table)
    gap_frequency = np.bincount(index.gaps, minlength=1 << layer.index_bits)
    gap_table = code_lengths(gap_frequency, layout.MAX_CODE_LENGTH)
    gap_stream, gap_bits = huffman_encode(index.gaps, gap_table)
    counts = np.diff(index.col_ptr)
    width = int(counts.max()).bit_length() if counts.size else 0

    half = layer.value_bits == 16
    flags = 0
    if layer.bias is not None:
        flags |= layout.LAYER_FLAG_BIAS
    if layer.code_dtype == np.uint16:
        flags |= layout.LAYER_FLAG_UINT16
    if half:
        flags |= layout.LAYER_FLAG_HALF
    record = bytearray(name)
    record += bytes([kind.code, flags, layer.weight_bits, layer.index_bits])
    for dim in shape:
        record += layout.varint(dim)
    record += layout.varint(len(metadata)) + metadata
    record += layout.varint(codebook_size)
    record += layout.varint(index.n_entries) + layout.varint(code_bits) + layout.varint(gap_bits)
    record.append(width)
    record += layer.codebook.astype(layout.value_dtype(half)).tobytes()
    if layer.bias is not None:
        record += np.asarray(layer.bias).astype(layout.value_dtype(half)).tobytes()
    record += layout.pack_nibbles(code_table)
    record += layout.pack_nibbles(gap_table)
    record += layout.pack_counts(counts, width)
    record += code_stream.tobytes()
    record += gap_stream.tobytes()
    return bytes(record)


def _tensors_record(tensors: dict[str, np.ndarray]) -> bytes:
    if len(tensors) > layout.MAX_TENSORS:
        raise ValueError(f"{len(tensors)} tensors, more than the format's {layout.MAX_TENSORS}")
    record = bytearray(layout.varint(len(tensors)))
    for name, tensor in tensors.items():
        what = f"tensor {name!r}"
        record += _name_bytes(name, what)
        if (
            not isinstance(tensor, np.ndarray)
            or tensor.dtype.kind != "f"
            or (tensor.dtype.itemsize != 4)
        ):
            raise ValueError(f"{what}: only float32 numpy arrays can be stored")
        if tensor.ndim > layout.MAX_TENSOR_NDIM:
            raise ValueError(
                f"{what}: {tensor.ndim} dimensions, more than {layout.MAX_TENSOR_NDIM}"
            )
        _check_dims(tensor.shape, what)
        if layout.dense_extent(tensor.shape) > layout.MAX_TENSOR_ELEMENTS:
            raise ValueError(f"{what}: shape {tensor.shape} exceeds {layout.MAX_TENSOR_ELEMENTS}")
        record += bytes([layout.DTYPE_FLOAT32, tensor.ndim])
        for dim in tensor.shape:
            record += layout.varint(dim)
        record += np.ascontiguousarray(tensor, dtype="<f4").tobytes()
    return bytes(record)
