"""Deep Compression's per-layer table (Tables 2–5 of the paper), computed from a .dzip file alone.

Columns, per layer: weights, fraction kept after pruning, weight bits and index bits per stored
entry at fixed width ("P+Q": pruning + quantization) and Huffman-coded ("P+Q+H"), and the
compress rate of each (compressed bytes as a fraction of the dense fp32 bytes).

What the rates count, so that nothing is hidden:

- P+Q+H is the layer's real bytes in the file: coded codes and indices, column pointers,
  codebook, Huffman tables, bias and the layer's own header.
- P+Q is the same layer with its codes and indices at fixed width instead of Huffman-coded (no
  tables): what the file would hold without the entropy coding stage.
- The dense size is fp32 weights plus bias. The total row uses the whole file (header, network,
  remaining tensors and checksum included) over the whole model's fp32 size, so its P+Q+H size is
  exactly the file's size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from deepzip.container.sizes import FileSizes, LayerSizes


@dataclass(frozen=True)
class InspectRow:
    name: str
    kind: str
    shape: tuple[int, ...]
    weights: int
    kept: float
    weight_bits_pq: float
    weight_bits_pqh: float
    index_bits_pq: float
    index_bits_pqh: float
    dense_bytes: int
    bytes_pq: int
    bytes_pqh: int

    @property
    def rate_pq(self) -> float:
        return self.bytes_pq / self.dense_bytes if self.dense_bytes else 0.0

    @property
    def rate_pqh(self) -> float:
        return self.bytes_pqh / self.dense_bytes if self.dense_bytes else 0.0

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "shape": list(self.shape),
            "rate_pq": self.rate_pq,
            "rate_pqh": self.rate_pqh,
        }


@dataclass(frozen=True)
class InspectReport:
    rows: tuple[InspectRow, ...]
    total: InspectRow
    parts: dict[str, int]
    file_bytes: int
    dense_bytes: int

    @property
    def ratio(self) -> float:
        """How many times smaller than the dense fp32 model the file is."""
        return self.dense_bytes / self.file_bytes

    @property
    def overhead_fraction(self) -> float:
        """Header, Huffman tables and checksum as a fraction of the file."""
        overhead = self.parts["header"] + self.parts["tables"] + self.parts["checksum"]
        return overhead / self.file_bytes

    def to_dict(self) -> dict:
        return {
            "file_bytes": self.file_bytes,
            "dense_bytes": self.dense_bytes,
            "ratio": self.ratio,
            "overhead_fraction": self.overhead_fraction,
            "parts": dict(self.parts),
            "layers": [row.to_dict() for row in self.rows],
            "total": self.total.to_dict(),
        }


def _fixed_stream_bytes(layer: LayerSizes) -> int:
    return math.ceil((layer.fixed_code_bits + layer.fixed_index_bits) / 8)


def _row(layer: LayerSizes) -> InspectRow:
    entries = layer.n_entries
    coded = layer.code_bytes + layer.index_bytes + layer.table_bytes
    return InspectRow(
        name=layer.name,
        kind=layer.kind,
        shape=layer.weight_shape,
        weights=layer.n_weights,
        kept=layer.n_kept / layer.n_weights if layer.n_weights else 0.0,
        weight_bits_pq=float(layer.weight_bits),
        weight_bits_pqh=layer.huffman_code_bits / entries if entries else 0.0,
        index_bits_pq=float(layer.index_bits),
        index_bits_pqh=layer.huffman_index_bits / entries if entries else 0.0,
        dense_bytes=4 * layer.n_weights + layer.bias_bytes,
        bytes_pq=layer.total_bytes - coded + _fixed_stream_bytes(layer),
        bytes_pqh=layer.total_bytes,
    )


def inspect_report(sizes: FileSizes) -> InspectReport:
    """The per-layer table, bytes per part and a total row equal to the file's size."""
    rows = tuple(_row(layer) for layer in sizes.layers)
    layers = sizes.layers
    parts = {
        "codes": sum(layer.code_bytes for layer in layers),
        "indices": sum(layer.index_bytes for layer in layers),
        "pointers": sum(layer.pointer_bytes for layer in layers),
        "codebook": sum(layer.codebook_bytes for layer in layers),
        "tables": sum(layer.table_bytes for layer in layers),
        "biases": sum(layer.bias_bytes for layer in layers),
        "tensors": sizes.tensor_data_bytes,
        "header": sizes.header_bytes
        + sizes.network_bytes
        + sizes.tensor_header_bytes
        + sum(layer.header_bytes for layer in layers),
        "checksum": sizes.checksum_bytes,
    }
    if sum(parts.values()) != sizes.file_bytes:
        raise AssertionError("the parts of the file do not add up to its size")
    dense = sum(row.dense_bytes for row in rows) + sizes.tensor_data_bytes
    entries = sum(layer.n_entries for layer in layers)
    weights = sum(layer.n_weights for layer in layers)
    kept = sum(layer.n_kept for layer in layers)
    coded = sum(layer.code_bytes + layer.index_bytes + layer.table_bytes for layer in layers)
    fixed = sum(_fixed_stream_bytes(layer) for layer in layers)

    def per_entry(bits: int) -> float:
        return bits / entries if entries else 0.0

    total = InspectRow(
        name="total",
        kind="",
        shape=(),
        weights=weights,
        kept=kept / weights if weights else 0.0,
        weight_bits_pq=per_entry(sum(layer.fixed_code_bits for layer in layers)),
        weight_bits_pqh=per_entry(sum(layer.huffman_code_bits for layer in layers)),
        index_bits_pq=per_entry(sum(layer.fixed_index_bits for layer in layers)),
        index_bits_pqh=per_entry(sum(layer.huffman_index_bits for layer in layers)),
        dense_bytes=dense,
        bytes_pq=sizes.file_bytes - coded + fixed,
        bytes_pqh=sizes.file_bytes,
    )
    return InspectReport(rows, total, parts, sizes.file_bytes, dense)
