"""Where a .dzip file's bytes go, part by part, read from the file alone.

``dzip_sizes`` gives what ``deepzip inspect`` prints as Deep Compression's Tables 2-5: per layer
the weights, the kept weights, the stored entries (filler zeros included), the fixed-width bits
of codes and indices ("P+Q": pruning and quantization) and their Huffman-coded bits ("P+Q+H"),
and the bytes of every part. All parts add up to the file's size exactly.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from deepzip.container import layout
from deepzip.container.errors import FieldValueError
from deepzip.container.parser import as_view, parse_file
from deepzip.container.reader import decode_entries
from deepzip.core.relative_index import RelativeIndex, entry_rows


@dataclass(frozen=True)
class LayerSizes:
    """One compressed layer's counts and bytes.

    Attributes:
        name, kind, weight_shape, weight_bits, index_bits: as stored.
        n_weights: weights of the dense layer (product of ``weight_shape``).
        n_kept: connections that survived pruning.
        n_entries: stored entries of the relative index, filler zeros included.
        n_fillers: filler zeros among them.
        huffman_code_bits: Huffman-coded bits of the entries' cluster codes.
        huffman_index_bits: Huffman-coded bits of the entries' relative indices (gaps).
        header_bytes: name, kind, flags, bit widths, shape, metadata, counts and widths.
        codebook_bytes: the codebook, float16 or float32 (shared weights, code 0 = the zero).
        table_bytes: the two Huffman code-length tables (4 bits per symbol).
        pointer_bytes: the bit-packed per-column entry counts (the column pointers).
        code_bytes: the Huffman-coded cluster codes.
        index_bytes: the Huffman-coded relative indices.
        bias_bytes: the bias, float16 or float32 (0 when the layer has none).
    """

    name: str
    kind: str
    weight_shape: tuple[int, ...]
    weight_bits: int
    index_bits: int
    n_weights: int
    n_kept: int
    n_entries: int
    n_fillers: int
    huffman_code_bits: int
    huffman_index_bits: int
    header_bytes: int
    codebook_bytes: int
    table_bytes: int
    pointer_bytes: int
    code_bytes: int
    index_bytes: int
    bias_bytes: int

    @property
    def fixed_code_bits(self) -> int:
        """Cluster codes at ``weight_bits`` each, the "P+Q" weight bits of the paper's tables."""
        return self.n_entries * self.weight_bits

    @property
    def fixed_index_bits(self) -> int:
        """Relative indices at ``index_bits`` each, the "P+Q" index bits."""
        return self.n_entries * self.index_bits

    @property
    def total_bytes(self) -> int:
        return (
            self.header_bytes
            + self.codebook_bytes
            + self.table_bytes
            + self.pointer_bytes
            + self.code_bytes
            + self.index_bytes
            + self.bias_bytes
        )


@dataclass(frozen=True)
class FileSizes:
    """Every byte of a .dzip file, by part; ``total_bytes == file_bytes``.

    Attributes:
        file_bytes: the file's size.
        header_bytes: the fixed header and the layer count.
        layers: per compressed layer, in file order.
        network_bytes: the network record (0 when the file has none).
        tensor_header_bytes: the remaining tensors' count, names, dtypes and shapes.
        tensor_data_bytes: the remaining tensors' float32 data (biases of uncompressed layers,
            their weights, ...).
        tensor_names: the remaining tensors, in file order.
        checksum_bytes: the trailer.
    """

    file_bytes: int
    header_bytes: int
    layers: tuple[LayerSizes, ...]
    network_bytes: int
    tensor_header_bytes: int
    tensor_data_bytes: int
    tensor_names: tuple[str, ...]
    checksum_bytes: int

    @property
    def total_bytes(self) -> int:
        return (
            self.header_bytes
            + sum(layer.total_bytes for layer in self.layers)
            + self.network_bytes
            + self.tensor_header_bytes
            + self.tensor_data_bytes
            + self.checksum_bytes
        )

    @property
    def overhead_bytes(self) -> int:
        """Headers, network, tensor headers, Huffman tables and checksum: all but the payload."""
        return (
            self.header_bytes
            + self.network_bytes
            + self.tensor_header_bytes
            + self.checksum_bytes
            + sum(layer.header_bytes + layer.table_bytes for layer in self.layers)
        )


def dzip_sizes(path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview) -> FileSizes:
    """Sizes and counts of a .dzip file's parts, from the file alone.

    Validates the file as ``read_dzip`` does (structure, checksum, every layer's streams,
    pointers and rows) without building the dense codes and masks.

    Raises:
        FormatError: as ``read_dzip``.
    """
    parsed = parse_file(as_view(path_or_bytes))
    layers = []
    for record in parsed.layers:
        entries, gaps, col_ptr = decode_entries(record)
        index = RelativeIndex(entries, gaps, col_ptr, record.matrix_shape, record.index_bits, 0)
        try:
            entry_rows(index)
        except ValueError as error:
            raise FieldValueError(f"{record.field}.gaps", str(error)) from None
        n_fillers = int(np.count_nonzero(entries == 0))
        layers.append(
            LayerSizes(
                name=record.name,
                kind=record.kind,
                weight_shape=record.shape,
                weight_bits=record.weight_bits,
                index_bits=record.index_bits,
                n_weights=math.prod(record.shape),
                n_kept=record.n_entries - n_fillers,
                n_entries=record.n_entries,
                n_fillers=n_fillers,
                huffman_code_bits=record.code_bits,
                huffman_index_bits=record.gap_bits,
                header_bytes=record.header_bytes,
                codebook_bytes=len(record.codebook),
                table_bytes=len(record.code_table) + len(record.gap_table),
                pointer_bytes=len(record.pointers),
                code_bytes=len(record.code_stream),
                index_bytes=len(record.gap_stream),
                bias_bytes=0 if record.bias is None else len(record.bias),
            )
        )
    return FileSizes(
        file_bytes=parsed.size,
        header_bytes=parsed.header_bytes,
        layers=tuple(layers),
        network_bytes=parsed.network_bytes,
        tensor_header_bytes=parsed.tensor_count_bytes + sum(t.header_bytes for t in parsed.tensors),
        tensor_data_bytes=sum(len(t.data) for t in parsed.tensors),
        tensor_names=tuple(t.name for t in parsed.tensors),
        checksum_bytes=layout.CHECKSUM_SIZE,
    )
