"""The .dzip container: one file holding a compressed model (docs/FORMAT.md).

Deep Compression's result (Han et al. 2016: pruning, trained quantization, Huffman coding)
stored as EIE keeps it, relative indices in column-major order with column pointers, so that the
file's byte size is the honest compressed size. The writer is deterministic and atomic; the
reader validates every field against the file size before allocating, verifies a checksum, and
raises only ``FormatError`` subclasses on bad input.
"""

from deepzip.container.errors import (
    BadMagicError,
    ChecksumMismatchError,
    FieldValueError,
    FormatError,
    LimitExceededError,
    OutOfBoundsError,
    TrailingDataError,
    TruncatedFileError,
    UnsupportedVersionError,
)
from deepzip.container.reader import DzipFile, open_dzip, read_dzip
from deepzip.container.sizes import FileSizes, LayerSizes, dzip_sizes
from deepzip.container.writer import dzip_bytes, write_dzip

__all__ = [
    "BadMagicError",
    "ChecksumMismatchError",
    "DzipFile",
    "FieldValueError",
    "FileSizes",
    "FormatError",
    "LayerSizes",
    "LimitExceededError",
    "OutOfBoundsError",
    "TrailingDataError",
    "TruncatedFileError",
    "UnsupportedVersionError",
    "dzip_bytes",
    "dzip_sizes",
    "open_dzip",
    "read_dzip",
    "write_dzip",
]
