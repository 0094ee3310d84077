"""Golden files pin the format: they must decode to their models, and the writer must still
produce the version-2 ones byte for byte; the version-1 files (written by the version-1 writer)
must still read, their networks converted to graphs. The worked examples of docs/FORMAT.md are
golden files."""

import dataclasses
import re
import struct
from pathlib import Path

import pytest
from dzip_examples import GOLDEN, GOLDEN_MODELS, GOLDEN_V1, assert_models_equal

from deepzip.compressed import CompressedModel
from deepzip.container import dzip_bytes, dzip_sizes, read_dzip

FORMAT_MD = Path(__file__).resolve().parents[2] / "docs" / "FORMAT.md"


@pytest.mark.parametrize("filename", list(GOLDEN_MODELS))
def test_golden_file_decodes_to_its_model(filename):
    assert_models_equal(read_dzip(GOLDEN / filename), GOLDEN_MODELS[filename]())


@pytest.mark.parametrize("filename", list(GOLDEN_MODELS))
def test_writer_reproduces_golden_file(filename):
    assert dzip_bytes(GOLDEN_MODELS[filename]()) == (GOLDEN / filename).read_bytes()


@pytest.mark.parametrize("filename", list(GOLDEN_V1))
def test_version_1_golden_file_still_reads(filename):
    data = (GOLDEN / filename).read_bytes()
    assert data[4] == 1
    model = read_dzip(data)
    assert_models_equal(model, GOLDEN_V1[filename]())
    if model.network is not None:
        assert all(i.shape is None for i in model.network.inputs)
    rewritten = dzip_bytes(model)  # as version 2, losing nothing
    assert rewritten[4] == 2
    assert_models_equal(read_dzip(rewritten), model)


def test_version_1_and_2_differ_only_in_the_network_record():
    """Without a network, a version-2 file is the version-1 file with another version byte."""
    v1 = (GOLDEN / "worked_example.dzip").read_bytes()
    v2 = (GOLDEN / "worked_example_v2.dzip").read_bytes()
    assert v2[:4] + v2[5:-8] == v1[:4] + v1[5:-8] and (v1[4], v2[4]) == (1, 2)


def test_format_md_worked_examples_are_the_golden_files():
    text = FORMAT_MD.read_text(encoding="utf-8")
    blocks = re.findall(r"```hex\n(.*?)```", text, re.DOTALL)
    assert [bytes.fromhex(block) for block in blocks] == [
        (GOLDEN / name).read_bytes() for name in ("worked_example_v2.dzip", "graph_example_v2.dzip")
    ]


def test_worked_example_sizes():
    sizes = dzip_sizes(GOLDEN / "worked_example_v2.dzip")
    (layer,) = sizes.layers
    assert (layer.n_entries, layer.n_fillers, layer.n_kept) == (3, 1, 2)
    assert (layer.huffman_code_bits, layer.huffman_index_bits) == (5, 3)
    assert (layer.header_bytes, layer.codebook_bytes, layer.bias_bytes) == (15, 12, 24)
    assert (layer.table_bytes, layer.pointer_bytes, layer.code_bytes, layer.index_bytes) == (
        4,
        1,
        1,
        1,
    )
    assert (sizes.header_bytes, sizes.network_bytes, sizes.checksum_bytes) == (15, 0, 8)
    assert sizes.total_bytes == sizes.file_bytes == 82


def test_half_values_file_holds_ieee_binary16_values():
    """Flag bit 2 halves the codebook and the bias: the same model at 32 bits is 2 bytes longer per
    value, and the codebook's bytes are the values as little-endian IEEE binary16, after the
    layer's header."""
    model = GOLDEN_V1["half_values.dzip"]()
    data = (GOLDEN / "half_values.dzip").read_bytes()
    as_float32 = CompressedModel(
        [dataclasses.replace(layer, value_bits=32) for layer in model.layers]
    )
    half_values = sum(
        len(layer.codebook) + (0 if layer.bias is None else len(layer.bias))
        for layer in model.layers
        if layer.value_bits == 16
    )
    assert len(dzip_bytes(as_float32)) - len(data) == 2 * half_values
    sizes = dzip_sizes(GOLDEN / "half_values.dzip")
    first = sizes.layers[0]
    start = sizes.header_bytes + first.header_bytes
    # name (length 3, "fc1"), kind 0 (linear), flags: bias (bit 0) and float16 values (bit 2)
    layer_start = sizes.header_bytes
    assert data[layer_start : layer_start + 6] == b"\x03fc1\x00\x05"
    codebook = model.layers[0].codebook
    assert first.codebook_bytes == 2 * len(codebook)
    raw = b"".join(struct.pack("<e", float(v)) for v in codebook)
    assert data[start : start + len(raw)] == raw
    assert first.bias_bytes == 2 * len(model.layers[0].bias)


def test_format_md_op_table_is_the_op_table():
    """docs/FORMAT.md's table of ops lists every op of deepzip.graph.ops.OPS: code, arities,
    layer and attributes in file order."""
    from deepzip.graph.ops import MANY, OPS

    def arity(bounds):
        low, high = bounds
        return f"{low}.." if high >= MANY else str(low) if low == high else f"{low}..{high}"

    text = FORMAT_MD.read_text(encoding="utf-8")
    row = r"^\| (\d+) \| (\w+) \| ([\d.]+) \| ([\d.]+) \| (\w+) \| (.*) \|$"
    rows = re.findall(row, text, re.M)
    want = [
        (str(op.code), op.name, arity(op.inputs), arity(op.outputs), op.layer,
         ", ".join(f"{n} `{t}`" for n, t in op.attrs) or "—")
        for op in sorted(OPS.values(), key=lambda op: op.code)
    ]  # fmt: skip
    assert rows == want
