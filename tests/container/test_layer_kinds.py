"""Layer records of every kind of the registry: write/read round trips over the kinds' matrix
views, the layer records of published files unchanged byte for byte, a file far more than 1,000x
smaller than float32 that reads back exactly with memory in proportion to what it stores, and
the records the reader must refuse."""

import glob
import hashlib
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.container import (
    FieldValueError,
    LimitExceededError,
    dzip_bytes,
    dzip_sizes,
    layout,
    read_dzip,
)
from deepzip.container.writer import _layer_record
from deepzip.kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = sorted(
    glob.glob(str(ROOT / "results" / "*.dzip"))
    + glob.glob(str(ROOT / "tests/container/golden/*"))
    + glob.glob(str(ROOT / "tests/container/version1/*.dzip"))
)
DIGESTS = json.loads((Path(__file__).parent / "published_layers.json").read_text())
"""Files published before layers were stored sparse (the version-1 files RESULTS.md reported until
its seeded rerun, kept in tests/container/version1/); the version-2 golden files came after."""


def assert_layers_equal(got: CompressedLayer, want: CompressedLayer) -> None:
    assert (got.name, got.kind, got.weight_shape) == (want.name, want.kind, want.weight_shape)
    assert (got.weight_bits, got.index_bits, got.value_bits) == (
        want.weight_bits,
        want.index_bits,
        want.value_bits,
    )
    assert got.metadata == want.metadata
    for mine, theirs in zip(got.csc(), want.csc(), strict=True):
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(got.codebook.view(np.uint32), want.codebook.view(np.uint32))
    assert (got.bias is None) == (want.bias is None)
    if want.bias is not None:
        np.testing.assert_array_equal(got.bias.view(np.uint32), want.bias.view(np.uint32))


@st.composite
def layers(draw, kind_name: str):
    kind = KINDS[kind_name]
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=kind.weight_ndim,
                                max_size=kind.weight_ndim)))  # fmt: skip
    weight_bits = draw(st.integers(1, 12))
    n_codes = draw(st.integers(1, min(2**weight_bits, 300)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = np.uint8 if weight_bits <= 8 else np.uint16
    codes = rng.integers(0, n_codes, size=shape).astype(dtype)
    codes[rng.random(shape) < draw(st.floats(0, 1))] = 0
    codebook = np.concatenate([[0.0], rng.normal(size=n_codes - 1)]).astype(np.float32)
    bias = None
    if kind.has_bias and draw(st.booleans()):
        bias = rng.normal(size=kind.matrix_shape(shape)[0]).astype(np.float32)
    return CompressedLayer(kind_name, kind_name, codebook, codes, codes != 0, bias,
                           weight_bits, draw(st.integers(1, 8)))  # fmt: skip


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip_of_each_kind(kind, data):
    layer = data.draw(layers(kind))
    (back,) = read_dzip(dzip_bytes(CompressedModel([layer]))).layers
    assert_layers_equal(back, layer)
    np.testing.assert_array_equal(back.codes, layer.codes)
    assert back.codes.shape == layer.weight_shape


def test_the_kind_byte_and_shape_come_from_the_registry():
    """An embedding (code 4) of 7 tokens x 3: two shape varints, the transposed matrix (3, 7)
    has 7 columns of pointers."""
    codes = np.zeros((7, 3), np.uint8)
    codes[2] = [1, 0, 1]
    layer = CompressedLayer("emb", "embedding", np.array([0, 1], np.float32), codes, codes != 0,
                            None, 1, 2)  # fmt: skip
    record = _layer_record(layer)
    assert record[:8] == b"\x03emb\x04\x00\x01\x02" and record[8:10] == b"\x07\x03"
    sizes = dzip_sizes(dzip_bytes(CompressedModel([layer])))
    assert sizes.layers[0].pointer_bytes == 2  # 7 counts of 2 bits
    assert sizes.layers[0].n_kept == 2


def dense_digest(layer: CompressedLayer) -> str:
    """SHA-256 of the dense codes, mask, codebook and bias (bytes, dtypes and shapes)."""
    digest = hashlib.sha256()
    bias = layer.bias if layer.bias is not None else np.zeros(0)
    for array in (layer.codes, layer.mask, layer.codebook, bias):
        digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(str(array.dtype).encode())
        digest.update(str(array.shape).encode())
    return digest.hexdigest()


@pytest.mark.parametrize("key", sorted(DIGESTS), ids=lambda p: Path(p).name)
def test_published_files_decode_as_before(key):
    """Digests taken with the reader before layers were stored sparse (commit 77a4420)."""
    got = {layer.name: dense_digest(layer) for layer in read_dzip(ROOT / key).layers}
    assert got == DIGESTS[key]


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: Path(p).name)
def test_published_layer_records_are_rewritten_byte_for_byte(path):
    data = Path(path).read_bytes()
    sizes, model = dzip_sizes(data), read_dzip(data)
    position = sizes.header_bytes
    for part, layer in zip(sizes.layers, model.layers, strict=True):
        assert _layer_record(layer) == data[position : position + part.total_bytes]
        position += part.total_bytes


def huge_sparse_layer(rows: int, cols: int, kept: int, seed: int = 0) -> CompressedLayer:
    """A ``rows x cols`` linear layer with ``kept`` weights, built from the CSC alone."""
    rng = np.random.default_rng(seed)
    flat = np.sort(rng.choice(rows * cols, size=kept, replace=False))
    columns, kept_rows = np.divmod(flat, rows)  # column-major positions: CSC order
    col_ptr = np.zeros(cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(columns, minlength=cols), out=col_ptr[1:])
    codes = rng.integers(1, 16, size=kept).astype(np.uint8)
    codebook = np.concatenate([[0.0], np.linspace(-1, 1, 15)]).astype(np.float32)
    return CompressedLayer.from_csc("fc", "linear", codebook, (rows, cols), col_ptr,
                                    kept_rows.astype(np.int64), codes, None, 4, 8)  # fmt: skip


def test_a_file_far_smaller_than_1000x_reads_back_with_memory_for_what_it_stores():
    layer = huge_sparse_layer(20_000, 20_000, 300)
    data = dzip_bytes(CompressedModel([layer]))
    assert 4 * layer.num_weights / len(data) > 1000
    tracemalloc.start()
    try:
        back = read_dzip(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"reading allocated {peak} bytes at its peak"
    assert_layers_equal(back.layers[0], layer)


def test_a_dense_shape_is_never_needed_to_write():
    """A 10^5 x 10^5 layer (10^10 weights) with 50 kept weights writes and reads in a moment."""
    layer = huge_sparse_layer(100_000, 100_000, 50)
    data = dzip_bytes(CompressedModel([layer]))
    assert_layers_equal(read_dzip(data).layers[0], layer)


def test_too_many_columns_for_the_file_are_refused_by_writer_and_reader():
    """A layer with no kept weight costs no pointer bits: the per-file column total bounds it."""
    cols = layout.column_budget(200)
    empty = CompressedLayer.from_csc("fc", "linear", np.zeros(1, np.float32), (1, cols),
                                     np.zeros(cols + 1, np.int64), np.zeros(0, np.int64),
                                     np.zeros(0, np.uint8), None, 1, 1)  # fmt: skip
    with pytest.raises(ValueError, match="matrix columns"):
        dzip_bytes(CompressedModel([empty]))
    small = CompressedLayer.from_csc("fc", "linear", np.zeros(1, np.float32), (1, 3),
                                     np.zeros(4, np.int64), np.zeros(0, np.int64),
                                     np.zeros(0, np.uint8), None, 1, 1)  # fmt: skip
    data = dzip_bytes(CompressedModel([small]))
    # Rewrite the layer's column count (shape[1], varint 0x03 after "fc", kind..index_bits, 0x01).
    start = data.index(b"\x02fc\x00\x00\x01\x01\x01\x03") + 8
    huge = layout.varint(layout.column_budget(len(data)) + 1000)
    bad = layout.seal(data[:start] + huge + data[start + 1 : -8])
    with pytest.raises(LimitExceededError) as error:
        read_dzip(bad)
    assert error.value.field == "layers[0].shape"


def test_a_bias_on_a_kind_that_keeps_it_apart_is_refused():
    codes = np.ones((2, 2), np.uint8)
    layer = CompressedLayer("emb", "embedding", np.array([0, 1], np.float32), codes, codes != 0,
                            None, 1, 1)  # fmt: skip
    data = dzip_bytes(CompressedModel([layer]))
    start = data.index(b"\x03emb\x04") + 5  # the flags byte
    bad = layout.seal(data[:start] + b"\x01" + data[start + 1 : -8])
    with pytest.raises(FieldValueError) as error:
        read_dzip(bad)
    assert error.value.field == "layers[0].flags"


def test_an_unknown_kind_is_refused():
    codes = np.ones((2, 2), np.uint8)
    layer = CompressedLayer("fc", "linear", np.array([0, 1], np.float32), codes, codes != 0,
                            None, 1, 1)  # fmt: skip
    data = dzip_bytes(CompressedModel([layer]))
    start = data.index(b"\x02fc\x00") + 3
    bad = layout.seal(
        data[:start] + bytes([max(KINDS[k].code for k in KINDS) + 1]) + data[start + 1 : -8]
    )
    with pytest.raises(FieldValueError) as error:
        read_dzip(bad)
    assert error.value.field == "layers[0].kind"
