"""The .dzip reader's exception family (docs/FORMAT.md, "Errors").

Every way a byte string can fail to be a .dzip file raises a subclass of ``FormatError``, and
nothing else: the reader never lets an ``IndexError``, a numpy error or a ``MemoryError`` out
for bad input. Each error names the field it failed on (``error.field``, a path such as
``layers[1].code_bits``) and its message gives the expected and the actual value.

Problems with the model handed to the writer are ``ValueError``s, not format errors: the file
was never written.
"""

from __future__ import annotations


class FormatError(Exception):
    """The bytes are not a valid .dzip file (base of the family).

    Attributes:
        field: where in the file the reader gave up, e.g. ``"header.magic"`` or
            ``"layers[0].pointers"``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class TruncatedFileError(FormatError):
    """The file is shorter than the fixed header and trailer, or than its declared size."""


class BadMagicError(FormatError):
    """The file does not start with the magic bytes ``DZIP``."""


class UnsupportedVersionError(FormatError):
    """The format version is not one this reader knows."""


class ChecksumMismatchError(FormatError):
    """The checksum in the trailer does not match the file's bytes."""


class OutOfBoundsError(FormatError):
    """A length or count points past the end of the file's body."""


class LimitExceededError(FormatError):
    """A count, size or dimension exceeds one of the format's documented limits."""


class FieldValueError(FormatError):
    """A field holds a value the format forbids (an unknown kind, a bad bit width, a Huffman
    stream that does not decode, entries that run past the last row, ...)."""


class TrailingDataError(FormatError):
    """Bytes are left over: the file is longer than its declared size, or the body does not
    end where the checksum begins."""


__all__ = [
    "BadMagicError",
    "ChecksumMismatchError",
    "FieldValueError",
    "FormatError",
    "LimitExceededError",
    "OutOfBoundsError",
    "TrailingDataError",
    "TruncatedFileError",
    "UnsupportedVersionError",
]
