"""Files that must be rejected, one or more per exception of the FormatError family, each
naming the field it failed on. Offsets refer to the worked example of docs/FORMAT.md."""

import dataclasses

import numpy as np
import pytest
from dzip_examples import GOLDEN, small_convnet

from deepzip.compressed import CompressedLayer, CompressedModel, NetworkOp
from deepzip.container import (
    BadMagicError,
    ChecksumMismatchError,
    FieldValueError,
    FormatError,
    LimitExceededError,
    OutOfBoundsError,
    TrailingDataError,
    TruncatedFileError,
    UnsupportedVersionError,
    dzip_bytes,
    dzip_sizes,
    read_dzip,
)
from deepzip.container.layout import seal, varint

EXAMPLE = (GOLDEN / "worked_example.dzip").read_bytes()


def edit(offset, size, new, data=EXAMPLE):
    """Replace ``size`` bytes at ``offset`` with ``new`` and fix the file size and checksum, so
    the parser (not the checksum) has to find the problem."""
    return seal(data[:offset] + new + data[offset + size : -8])


def put(offset, value, data=EXAMPLE):
    return edit(offset, 1, bytes([value]), data)


def two_layers_named_alike():
    layer = CompressedLayer(
        "ab",
        "linear",
        np.zeros(1, np.float32),
        np.zeros((1, 1), np.uint8),
        np.zeros((1, 1), bool),
        None,
        1,
        1,
    )
    other = dataclasses.replace(layer, name="ac")
    data = dzip_bytes(CompressedModel([layer, other]))
    i = data.index(b"ac")
    return edit(i, 2, b"ab", data)


RELU_ONLY = dzip_bytes(CompressedModel([], [NetworkOp("relu")]))  # 14 + 00 01 02 00 + 8
FLATTEN_ONLY = dzip_bytes(CompressedModel([], [NetworkOp("flatten", None, (1, -1))]))
CONVNET = dzip_bytes(small_convnet())
ONE_TENSOR = seal(EXAMPLE[:73] + b"\x01\x01t\x01\x09" + b"\x01" * 9)


CASES = {
    # name: (bytes, exception, field)
    "too short for a header": (EXAMPLE[:21], TruncatedFileError, "header"),
    "shorter than declared": (EXAMPLE[:-1], TruncatedFileError, "header.file_size"),
    "magic": (b"DZIQ" + EXAMPLE[4:], BadMagicError, "header.magic"),
    "version": (EXAMPLE[:4] + b"\x02" + EXAMPLE[5:], UnsupportedVersionError, "header.version"),
    "flipped bit": (
        EXAMPLE[:40] + b"\x01" + EXAMPLE[41:],
        ChecksumMismatchError,
        "trailer.checksum",
    ),
    "longer than declared": (EXAMPLE + b"\x00", TrailingDataError, "header.file_size"),
    "bytes after the last record": (edit(74, 0, b"\x00"), TrailingDataError, "body"),
    "name runs past the end": (put(15, 100), OutOfBoundsError, "layers[0].name"),
    "code stream runs past the end": (put(27, 36), OutOfBoundsError, "layers[0].codes"),
    "more layers than bytes": (put(14, 100), OutOfBoundsError, "header.layer_count"),
    "second layer missing": (put(14, 5), OutOfBoundsError, "layers[1].kind"),
    "more columns than the file may declare": (
        edit(23, 1, varint(2 * 10**6)),
        LimitExceededError,
        "layers[0].shape",
    ),
    "name too long": (edit(15, 1, varint(2000)), LimitExceededError, "layers[0].name_size"),
    "metadata too long": (edit(24, 1, varint(5000)), LimitExceededError, "layers[0].metadata_size"),
    "too many layers": (edit(14, 1, varint(70000)), LimitExceededError, "header.layer_count"),
    "tensor with 9 dimensions": (ONE_TENSOR, LimitExceededError, "tensors[0].ndim"),
    "file flag": (put(5, 0x80), FieldValueError, "header.flags"),
    "layer kind": (put(18, 200), FieldValueError, "layers[0].kind"),
    "bias on a kind that keeps it apart": (put(18, 4), FieldValueError, "layers[0].flags"),
    "layer flag": (put(19, 0x08), FieldValueError, "layers[0].flags"),
    "weight_bits 0": (put(20, 0), FieldValueError, "layers[0].weight_bits"),
    "weight_bits 13": (put(20, 13), FieldValueError, "layers[0].weight_bits"),
    "index_bits 9": (put(21, 9), FieldValueError, "layers[0].index_bits"),
    "codebook larger than 2**weight_bits": (put(25, 5), FieldValueError, "layers[0].codebook_size"),
    "non-minimal varint": (edit(22, 1, b"\x86\x00"), FieldValueError, "layers[0].shape[0]"),
    "varint of 10 bytes": (
        edit(22, 1, b"\x80" * 9 + b"\x01"),
        FieldValueError,
        "layers[0].shape[0]",
    ),
    "invalid UTF-8 name": (edit(16, 2, b"\xff\xfe"), FieldValueError, "layers[0].name"),
    "metadata not an object": (edit(24, 1, b"\x02[]"), FieldValueError, "layers[0].metadata"),
    "metadata not JSON": (edit(24, 1, b"\x01{"), FieldValueError, "layers[0].metadata"),
    "metadata nested too deep": (
        edit(24, 1, varint(4000) + b"[" * 4000),
        FieldValueError,
        "layers[0].metadata",
    ),
    "metadata NaN": (edit(24, 1, b'\x09{"a":NaN}'), FieldValueError, "layers[0].metadata"),
    "more entries than weights": (put(26, 13), FieldValueError, "layers[0].entry_count"),
    "fewer code bits than entries": (put(27, 2), FieldValueError, "layers[0].code_bits"),
    "pointer width above the rows'": (put(29, 5), FieldValueError, "layers[0].pointer_width"),
    "codebook[0] not +0.0": (
        edit(30, 4, b"\x00\x00\x00\x80"),
        FieldValueError,
        "layers[0].codebook",
    ),
    "code length 13": (put(66, 0xD2), FieldValueError, "layers[0].code_lengths"),
    "table padding nibble": (put(67, 0x11), FieldValueError, "layers[0].code_lengths"),
    "Kraft sum above 1": (edit(66, 2, b"\x11\x10"), FieldValueError, "layers[0].codes"),
    "code stream padding": (put(71, 0xE1), FieldValueError, "layers[0].codes"),
    "gap stream too short for its entries": (put(72, 0xE0), FieldValueError, "layers[0].gaps"),
    "pointer padding": (put(70, 0xC1), FieldValueError, "layers[0].pointers"),
    "counts disagree with entries": (put(70, 0x80), FieldValueError, "layers[0].pointers"),
    "pointer width not minimal": (
        put(70, 0x60, put(29, 3)),
        FieldValueError,
        "layers[0].pointer_width",
    ),
    "filler with a short gap": (put(72, 0x00), FieldValueError, "layers[0].gaps"),
    "filler ends a column": (put(70, 0x90), FieldValueError, "layers[0].codes"),
    "entries past the last row": (put(72, 0xC0), FieldValueError, "layers[0].gaps"),
    "duplicate layer names": (two_layers_named_alike(), FieldValueError, "layers[1].name"),
    "unknown op kind": (put(16, 9, RELU_ONLY), FieldValueError, "network.ops[0].kind"),
    "op param out of range": (
        edit(17, 1, varint(2**32), FLATTEN_ONLY),
        FieldValueError,
        "network.ops[0].params[0]",
    ),
    "dangling network reference": (
        CONVNET.replace(b"head.weight", b"head.weighs")[:-8],
        FieldValueError,
        "network.ops[7].layer",
    ),
    "tensor dtype": (
        seal(EXAMPLE[:73] + b"\x01\x01t\x02\x00" + b"\x00" * 4),
        FieldValueError,
        "tensors[0].dtype",
    ),
}
CASES["dangling network reference"] = (
    seal(CASES["dangling network reference"][0]),
    *CASES["dangling network reference"][1:],
)


@pytest.mark.parametrize(("data", "error", "field"), CASES.values(), ids=CASES.keys())
def test_bad_file_is_rejected_with_its_field(tmp_path, data, error, field):
    path = tmp_path / "bad.dzip"
    path.write_bytes(data)
    for reader in (read_dzip, dzip_sizes):
        for source in (data, path):
            with pytest.raises(error) as info:
                reader(source)
            assert info.value.field == field
            assert isinstance(info.value, FormatError)
            assert str(info.value).startswith(f"{field}: ")


def test_every_subclass_is_exercised():
    exercised = {error for _, error, _ in CASES.values()}
    assert exercised == set(FormatError.__subclasses__())


def test_messages_give_expected_and_actual():
    with pytest.raises(FieldValueError, match=r"index_bits: expected 1\.\.8, got 9"):
        read_dzip(put(21, 9))


def test_edits_are_otherwise_valid():
    """The editing helpers alone produce a readable file."""
    assert edit(0, 0, b"") == EXAMPLE
    scalar = read_dzip(seal(EXAMPLE[:73] + b"\x01\x01t\x01\x00" + b"\x00\x00\x80\x3f"))
    assert scalar.tensors["t"].shape == () and scalar.tensors["t"] == 1.0
