"""Engine.load: layers decoded one at a time from the file give exactly the engine that the whole
CompressedModel gives (issue 12, loading), and malformed files still raise the reader's errors."""

from __future__ import annotations

import numpy as np
import pytest

from deepzip.compressed import CompressedModel
from deepzip.container import FormatError, dzip_bytes, open_dzip, read_dzip
from deepzip.container.layout import seal
from deepzip.core.relative_index import RelativeIndex, decode_csc, encode_csc, entry_rows
from deepzip.engine import Engine, EngineLayer
from deepzip.graph.ir import chain

from .engine_helpers import make_layer, random_weight

LAYOUT_ARRAYS = ("codebook", "entries", "gaps", "col_ptr", "bias")


def assert_same_layout(got: EngineLayer, want: EngineLayer) -> None:
    assert (got.name, got.shape, got.pes, got.weight_bits, got.index_bits) == (
        want.name, want.shape, want.pes, want.weight_bits, want.index_bits,
    )  # fmt: skip
    for name in LAYOUT_ARRAYS:
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape, name
            np.testing.assert_array_equal(a, b, err_msg=name)


def linear_codes(rng, rows, cols, density, dtype=np.uint8, high=16):
    codes = np.zeros((rows, cols), dtype=dtype)
    mask = rng.random((rows, cols)) < density
    codes[mask] = rng.integers(1, high, int(mask.sum()))
    return codes


def codebook(n: int, rng) -> np.ndarray:
    return np.concatenate([[0.0], rng.normal(0.0, 1.0, n - 1)]).astype(np.float32)


def mlp(rng, shapes, densities, weight_bits=4, index_bits=4, empty_columns=0):
    """A chain of linear layers (ReLU between) with the given ``(rows, cols)`` shapes."""
    layers, ops = [], []
    for i, ((rows, cols), density) in enumerate(zip(shapes, densities)):
        codes = linear_codes(rng, rows, cols, density, high=min(2**weight_bits, 300),
                             dtype=np.uint8 if weight_bits <= 8 else np.uint16)  # fmt: skip
        codes[:, :empty_columns] = 0
        bias = rng.normal(0, 1, rows).astype(np.float32)
        cb = codebook(min(2**weight_bits, 300), rng)
        layers.append(make_layer(f"fc{i}", "linear", cb, codes, bias, weight_bits, index_bits))
        ops += [("linear", f"fc{i}", {}), ("relu", None, {})]
    return CompressedModel(layers, chain(ops[:-1], (shapes[0][1],)))


def conv_net(rng, groups=1, index_bits=4):
    """conv (optionally grouped) -> relu -> conv 1x1 -> flatten -> linear."""
    c1, _ = random_weight(rng, "c1", "conv2d", (8, 4 // groups, 3, 3), 0.4, bias=True)
    c2, _ = random_weight(rng, "c2", "conv2d", (6, 8, 1, 1), 0.0)  # all-zero layer
    fc, _ = random_weight(rng, "fc", "linear", (3, 6 * 5 * 5), 0.2, bias=True)
    conv = {"stride": (1, 1), "pads": (1, 1, 1, 1), "dilation": (1, 1)}
    ops = [
        ("conv2d", "c1", {**conv, "groups": groups}),
        ("relu", None, {}),
        ("conv2d", "c2", {**conv, "pads": (0, 0, 0, 0), "groups": 1}),
        ("flatten", None, {"start_dim": 1, "end_dim": -1}),
        ("linear", "fc", {}),
    ]
    return CompressedModel([c1, c2, fc], chain(ops, (4, 5, 5)))


def models():
    rng = np.random.default_rng(12)
    yield "one row", mlp(rng, [(1, 9), (5, 1)], [0.7, 1.0]), (9,)
    yield "pes > rows", mlp(rng, [(3, 40), (2, 3)], [0.3, 0.9]), (40,)
    yield "empty columns", mlp(rng, [(50, 30)], [0.2], empty_columns=7), (30,)
    yield "all-zero layer", mlp(rng, [(20, 10), (4, 20)], [0.0, 0.5]), (10,)
    yield "long gaps, 2-bit index", mlp(rng, [(300, 8)], [0.01], index_bits=2), (8,)
    yield "split 9-bit codes", mlp(rng, [(40, 30)], [0.3], weight_bits=9), (30,)
    yield "conv", conv_net(rng), (4, 5, 5)
    yield "grouped conv", conv_net(rng, groups=2), (4, 5, 5)


MODELS = list(models())


@pytest.mark.parametrize("pes", [1, 2, 5])
@pytest.mark.parametrize(("what", "model", "input_shape"), MODELS, ids=[m[0] for m in MODELS])
def test_loaded_engine_is_the_engine_of_the_whole_model(tmp_path, what, model, input_shape, pes):
    path = tmp_path / "model.dzip"
    path.write_bytes(dzip_bytes(model))
    whole = Engine(read_dzip(path), pes=pes)
    loaded = Engine.load(path, pes=pes)
    assert loaded.layers.keys() == whole.layers.keys()
    for name, parts in whole.layers.items():
        assert len(loaded.layers[name]) == len(parts)
        for got, want in zip(loaded.layers[name], parts):
            assert_same_layout(got, want)
    # ... and the layouts of the in-memory model, never written, are the same too.
    for name, parts in Engine(model, pes=pes).layers.items():
        for got, want in zip(loaded.layers[name], parts):
            assert_same_layout(got, want)
    x = np.random.default_rng(0).normal(size=(3, *input_shape)).astype(np.float32)
    np.testing.assert_array_equal(loaded.run(x), whole.run(x))


def test_loaded_engine_runs_fixed16_and_keeps_the_file(tmp_path):
    model = conv_net(np.random.default_rng(3), groups=2)
    path = tmp_path / "model.dzip"
    path.write_bytes(dzip_bytes(model))
    x = np.random.default_rng(1).normal(size=(2, 4, 5, 5)).astype(np.float32)
    want = Engine(read_dzip(path), arithmetic="fixed16").run(x)
    loaded = Engine.load(path, arithmetic="fixed16")
    np.testing.assert_array_equal(loaded.run(x), want)
    assert loaded.model.layer_names == ("c1", "c2", "fc")
    back = loaded.model.to_model()
    for a, b in zip(back.layers, model.layers):
        np.testing.assert_array_equal(a.codes, b.codes)


def test_open_dzip_decodes_each_layer_like_read_dzip(tmp_path):
    model = conv_net(np.random.default_rng(4))
    data = dzip_bytes(model)
    opened = open_dzip(data)
    whole = read_dzip(data)
    assert [layer.name for layer in opened.layers()] == [layer.name for layer in whole.layers]
    for got, want in zip(opened.layers(), whole.layers):
        for a, b in zip(got.csc(), want.csc()):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    assert opened.has_parameters("c1") and opened.has_parameters("fc.weight")
    assert not opened.has_parameters("nothing")
    with pytest.raises(KeyError):
        opened.layer("nothing")


def truncated_rows_file() -> tuple[bytes, CompressedModel]:
    """A file whose layer ``extra`` (not in the network) claims 32 rows where its entries run
    to row 63: it parses, and only decoding the layer finds the fault."""
    rng = np.random.default_rng(5)
    used = make_layer("a", "linear", codebook(16, rng), linear_codes(rng, 4, 6, 0.5))
    extra_codes = np.zeros((64, 3), dtype=np.uint8)
    extra_codes[63, :] = 1
    extra = make_layer("extra", "linear", codebook(16, rng), extra_codes)
    model = CompressedModel([used, extra], chain([("linear", "a", {})], (6,)))
    data = dzip_bytes(model)
    at = data.index(b"\x05extra") + 1 + 5 + 4  # name, kind, flags, weight and index bits
    assert data[at] == 64
    return seal(data[:at] + b"\x20" + data[at + 1 : -8]), model


def test_a_malformed_layer_the_network_skips_still_raises(tmp_path):
    data, _ = truncated_rows_file()
    with pytest.raises(FormatError, match=r"layers\[1\]\.gaps.*past row 31") as expected:
        read_dzip(data)
    open_dzip(data)  # the records parse: only decoding the layer finds the fault
    path = tmp_path / "bad.dzip"
    path.write_bytes(data)
    with pytest.raises(type(expected.value)) as got:
        Engine.load(path)
    assert str(got.value) == str(expected.value)


def test_a_malformed_layer_is_reported_before_an_engine_error(tmp_path):
    data, _ = truncated_rows_file()
    path = tmp_path / "bad.dzip"
    path.write_bytes(data)
    with pytest.raises(FormatError):
        Engine.load(path, arithmetic="no such arithmetic")


def test_corrupt_files_raise_the_readers_errors(tmp_path):
    model = mlp(np.random.default_rng(6), [(8, 8)], [0.5])
    data = bytearray(dzip_bytes(model))
    data[-20] ^= 0xFF  # the checksum no longer matches
    path = tmp_path / "bad.dzip"
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError) as expected:
        read_dzip(path)
    with pytest.raises(type(expected.value)):
        Engine.load(path)


# -- the leaner decoding and checks against their slow references ------------------------------


def decode_csc_reference(index: RelativeIndex):
    """The numpy decode that the kernel replaced: every entry's row, then the kept ones."""
    rows = entry_rows(index)
    kept = index.entries != index.filler_code
    ends = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)])
    return ends[index.col_ptr], rows[kept], index.entries[kept]


@pytest.mark.parametrize(("rows", "cols", "density", "index_bits"), [
    (0, 0, 0.5, 4), (1, 1, 1.0, 1), (1, 5, 0.5, 3), (7, 0, 0.5, 4), (40, 13, 0.0, 4),
    (40, 13, 1.0, 2), (200, 9, 0.02, 2), (33, 17, 0.3, 8),
])  # fmt: skip
def test_decode_csc_matches_the_numpy_reference(rows, cols, density, index_bits):
    rng = np.random.default_rng(rows * 31 + cols)
    codes = linear_codes(rng, rows, cols, density, dtype=np.uint16, high=300)
    cols_of, rows_of = np.nonzero(codes.T)
    col_ptr = np.zeros(cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(cols_of, minlength=cols), out=col_ptr[1:])
    index = encode_csc(col_ptr, rows_of.astype(np.int64), codes[rows_of, cols_of], rows,
                       index_bits, 0)  # fmt: skip
    got, want = decode_csc(index), decode_csc_reference(index)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_decode_csc_rejects_gaps_past_the_last_row():
    index = RelativeIndex(
        np.array([1, 2, 3], np.uint8), np.array([0, 0, 5], np.uint8),
        np.array([0, 1, 3], np.int64), (4, 2), 4, 0,
    )  # fmt: skip
    with pytest.raises(ValueError, match="column 1: the gaps run past row 3"):
        decode_csc(index)
    with pytest.raises(ValueError, match="column 1: the gaps run past row 3"):
        decode_csc_reference(index)


@pytest.mark.parametrize(("change", "message"), [
    (lambda layer: layer.kept_rows.__setitem__(0, 99), "row is outside"),
    (lambda layer: layer.kept_codes.__setitem__(0, 0), "code 0"),
    (lambda layer: layer.col_ptr.__setitem__(1, 10**6), "column pointers out of order"),
    (lambda layer: layer.kept_rows.__setitem__(1, layer.kept_rows[0]), "rows must rise"),
])  # fmt: skip
def test_layout_rejects_kept_weights_changed_after_validation(change, message):
    codes = np.zeros((6, 2), dtype=np.uint8)
    codes[[1, 4], 0] = 3
    codes[2, 1] = 1
    layer = make_layer("l", "linear", codebook(16, np.random.default_rng(0)), codes)
    change(layer)
    with pytest.raises(ValueError, match=message):
        EngineLayer.from_compressed(layer, 2)
