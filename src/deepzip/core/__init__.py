"""Pure numpy algorithms of Deep Compression: masks, 1-D k-means, relative index, Huffman coding."""

from deepzip.core.huffman import (
    DEFAULT_MAX_LENGTH,
    MAX_CODE_LENGTH,
    canonical_codes,
    code_lengths,
    entropy_bits,
    huffman_decode,
    huffman_decode_reference,
    huffman_encode,
    huffman_encode_reference,
    kraft_sum,
    validate_lengths,
)
from deepzip.core.kmeans import (
    InitMethod,
    KMeansResult,
    assign_codes,
    init_centroids,
    kmeans_1d,
    kmeans_1d_reference,
)
from deepzip.core.masks import global_sparsity_masks, quality_mask, sparsity_mask
from deepzip.core.relative_index import (
    RelativeIndex,
    decode_column_major,
    decode_csc,
    encode_column_major,
    encode_column_major_reference,
    encode_csc,
    entry_rows,
)

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "MAX_CODE_LENGTH",
    "InitMethod",
    "KMeansResult",
    "RelativeIndex",
    "assign_codes",
    "canonical_codes",
    "code_lengths",
    "decode_column_major",
    "decode_csc",
    "encode_column_major",
    "encode_column_major_reference",
    "encode_csc",
    "entropy_bits",
    "entry_rows",
    "global_sparsity_masks",
    "huffman_decode",
    "huffman_decode_reference",
    "huffman_encode",
    "huffman_encode_reference",
    "init_centroids",
    "kmeans_1d",
    "kmeans_1d_reference",
    "kraft_sum",
    "quality_mask",
    "sparsity_mask",
    "validate_lengths",
]
