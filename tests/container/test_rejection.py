"""Files that must be rejected, one or more per exception of the FormatError family, each
naming the field it failed on. Offsets refer to the worked example of docs/FORMAT.md. Network
records are edited as records (``deepzip.container.network.RawNode``) and re-encoded, so that each
case breaks one rule of the graph."""

import dataclasses

import numpy as np
import pytest
from dzip_examples import GOLDEN, graph_example, with_network

from deepzip.compressed import CompressedLayer, CompressedModel
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
from deepzip.container.network import RawNode, raw_network, v1_network_bytes

EXAMPLE = (GOLDEN / "worked_example_v2.dzip").read_bytes()


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


def v1_file(ops):
    """A version-1 file with no layers, no tensors and the network ``ops``."""
    return seal(b"DZIP\x01\x01" + bytes(8) + b"\x00" + v1_network_bytes(ops) + b"\x00")


RELU_ONLY = v1_file([("relu", None, ())])  # 14 + 00 01 02 00 + 8
FLATTEN_ONLY = v1_file([("flatten", None, (1, -1))])
CONVNET = (GOLDEN / "small_convnet.dzip").read_bytes()  # version 1


def network_edit(change, model=None):
    """The graph example's file with its network record re-encoded after ``change(raw)``."""
    model = model or graph_example()
    raw = raw_network(model.network)
    change(raw)
    return with_network(model, raw)


def node_edit(i, **fields):
    def change(raw):
        for name, value in fields.items():
            if name == "attr":
                k, kind, v = value
                raw.nodes[i].attrs[k] = (kind, v)
            else:
                setattr(raw.nodes[i], name, value)

    return network_edit(change)


def replace_node(i, node):
    return network_edit(lambda raw: raw.nodes.__setitem__(i, node))


def set_input_shape(shape):
    return network_edit(lambda raw: raw.inputs.__setitem__(0, (0, shape)))


def set_outputs(outputs):
    return network_edit(lambda raw: setattr(raw, "outputs", outputs))


# The graph example: v0 input (1, 3, 3) -> [0] conv2d v1 -> [1] relu v2 -> [2] max_pool2d v3 ->
# [3] flatten v4 -> [4] linear v5.
NETWORK_CASES = {
    "stride 0": (node_edit(0, attr=(0, "ints", (0, 1))), "network.nodes[0].attrs.stride"),
    "groups 0": (node_edit(0, attr=(3, "int", 0)), "network.nodes[0].attrs.groups"),
    "groups not dividing the channels": (
        node_edit(0, attr=(3, "int", 2)),
        "network.nodes[0].attrs.groups",
    ),
    "negative padding": (
        node_edit(0, attr=(1, "ints", (0, -1, 0, 0))),
        "network.nodes[0].attrs.pads",
    ),
    "pool padding above half the kernel": (
        node_edit(2, attr=(2, "ints", (2, 0))),
        "network.nodes[2].attrs.padding",
    ),
    "forward reference (a cycle)": (node_edit(1, inputs=[3]), "network.nodes[1].inputs[0]"),
    "undefined input": (node_edit(4, inputs=[99]), "network.nodes[4].inputs[0]"),
    "undefined graph output": (set_outputs([6]), "network.outputs[0]"),
    "channels disagree with the weight": (set_input_shape((2, 3, 3)), "network.nodes[0].inputs"),
    "features disagree with the weight": (set_input_shape((1, 5, 5)), "network.nodes[4].inputs"),
    "input too small for the kernel": (set_input_shape((1, 1, 1)), "network.nodes[0].inputs"),
    "unknown op code": (node_edit(1, code=62), "network.nodes[1].op"),
    "bool other than 0 or 1": (
        node_edit(2, attr=(4, "int", 2)),
        "network.nodes[2].attrs.ceil_mode",
    ),
    "unknown vocabulary": (
        replace_node(1, RawNode(22, None, [1], 1, [("str", "fast")])),
        "network.nodes[1].attrs.approximate",
    ),
    "softmax over the batch": (
        replace_node(1, RawNode(28, None, [1], 1, [("int", 0)])),
        "network.nodes[1].attrs.dim",
    ),
    "add of three inputs": (
        replace_node(1, RawNode(24, None, [1, 1, 1], 1, [("float", 0.0)])),
        "network.nodes[1].input_count",
    ),
    "dangling layer": (node_edit(4, layer="fd"), "network.nodes[4].layer"),
}
NETWORK_LIMIT_CASES = {
    "too many values": (
        replace_node(1, RawNode(63, None, [1], 65535, [("str", "t"), ("str", "m")])),
        "network.nodes[1].output_count",
    ),
}
ONE_TENSOR = seal(EXAMPLE[:73] + b"\x01\x01t\x01\x09" + b"\x01" * 9)


CASES = {
    # name: (bytes, exception, field)
    "too short for a header": (EXAMPLE[:21], TruncatedFileError, "header"),
    "shorter than declared": (EXAMPLE[:-1], TruncatedFileError, "header.file_size"),
    "magic": (b"DZIQ" + EXAMPLE[4:], BadMagicError, "header.magic"),
    "version": (EXAMPLE[:4] + b"\x03" + EXAMPLE[5:], UnsupportedVersionError, "header.version"),
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
CASES |= {name: (data, FieldValueError, field) for name, (data, field) in NETWORK_CASES.items()}
CASES |= {
    name: (data, LimitExceededError, field) for name, (data, field) in NETWORK_LIMIT_CASES.items()
}


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
