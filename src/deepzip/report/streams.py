"""The symbol streams of each layer of a .dzip file and the Huffman tables that code them.

Deep Compression §4: the cluster codes and the relative-index gaps of the stored entries (filler
zeros included) have skewed distributions, which is why Huffman coding pays. This module reads,
from the file alone, each layer's decoded code and gap streams and the canonical code lengths the
file stores for them, so that the report can draw both and state the streams' entropy next to the
bits they really take.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from deepzip.container import layout
from deepzip.container.parser import as_view, parse_file
from deepzip.container.reader import decode_entries


@dataclass(frozen=True, eq=False)
class LayerStreams:
    """One layer's stored entries, in the file's column-major order.

    Attributes:
        name: the layer's name.
        codes: cluster code of each stored entry (0 for a filler zero), int64 ``(n_entries,)``.
        gaps: relative index (gap) of each stored entry, int64 ``(n_entries,)``.
        code_lengths: Huffman code length of each cluster code (0 = unused), uint8
            ``(codebook_size,)``, as stored.
        gap_lengths: Huffman code length of each gap value, uint8 ``(2**index_bits,)``.
        code_bits: bits of the Huffman-coded code stream, as stored.
        gap_bits: bits of the Huffman-coded gap stream.
    """

    name: str
    codes: np.ndarray
    gaps: np.ndarray
    code_lengths: np.ndarray
    gap_lengths: np.ndarray
    code_bits: int
    gap_bits: int


def layer_streams(
    path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview,
) -> list[LayerStreams]:
    """Each compressed layer's decoded streams and code-length tables, in file order.

    Raises:
        FormatError: as ``read_dzip``.
    """
    parsed = parse_file(as_view(path_or_bytes))
    streams = []
    for record in parsed.layers:
        entries, gaps, _ = decode_entries(record)  # validates the tables and streams
        code_lengths = layout.unpack_nibbles(record.code_table)[: record.codebook_size]
        gap_lengths = layout.unpack_nibbles(record.gap_table)[: 1 << record.index_bits]
        streams.append(
            LayerStreams(
                name=record.name,
                codes=entries.astype(np.int64),
                gaps=np.asarray(gaps, dtype=np.int64),
                code_lengths=code_lengths,
                gap_lengths=gap_lengths,
                code_bits=record.code_bits,
                gap_bits=record.gap_bits,
            )
        )
    return streams
