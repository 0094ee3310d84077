"""Writing then reading a .dzip file is the identity, the writer is deterministic and atomic,
and models the format cannot hold are refused before anything is written."""

import math
import os

import numpy as np
import pytest
from dzip_examples import CONV_METADATA, GOLDEN_MODELS, assert_models_equal, lenet5
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepzip.compressed import CompressedLayer, CompressedModel, round_to_half
from deepzip.container import dzip_bytes, dzip_sizes, read_dzip, write_dzip
from deepzip.graph import Graph, GraphInput, Node, chain


@st.composite
def layers(draw, name):
    kind = draw(st.sampled_from(["linear", "conv2d"]))
    if kind == "linear":
        shape = (draw(st.integers(0, 40)), draw(st.integers(0, 8)))
    else:
        shape = tuple(draw(st.integers(lo, hi)) for lo, hi in ((0, 5), (0, 3), (1, 3), (0, 3)))
    weight_bits = draw(st.integers(1, 12))
    uint16 = weight_bits > 8 or draw(st.booleans())
    codebook_size = draw(st.integers(1, min(2**weight_bits, 300)))
    if not uint16:
        codebook_size = min(codebook_size, 256)
    index_bits = draw(st.integers(1, 8))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = math.prod(shape)
    mask = rng.random(size) < density if codebook_size > 1 else np.zeros(size, dtype=bool)
    if draw(st.booleans()):  # skewed codes: Huffman lengths of all sizes
        kept = 1 + (rng.geometric(0.4, size) - 1) % max(codebook_size - 1, 1)
    else:
        kept = rng.integers(1, max(codebook_size, 2), size)
    codes = np.where(mask, kept, 0).astype(np.uint16 if uint16 else np.uint8)
    codebook = rng.normal(size=codebook_size).astype(np.float32)
    codebook[0] = 0.0
    bias = rng.normal(size=shape[0]).astype(np.float32) if draw(st.booleans()) else None
    metadata = (
        CONV_METADATA
        if kind == "conv2d"
        else draw(st.sampled_from([{}, {"note": "é", "sizes": [1, [2, 3]], "x": 0.5}]))
    )
    value_bits = draw(st.sampled_from([32, 16]))
    if value_bits == 16:
        codebook = round_to_half(codebook)
        bias = None if bias is None else round_to_half(bias)
    return CompressedLayer(
        name,
        kind,
        codebook,
        codes.reshape(shape),
        mask.reshape(shape),
        bias,
        weight_bits,
        index_bits,
        metadata,
        value_bits,
    )


@st.composite
def models(draw):
    names = draw(st.lists(st.text(max_size=6), unique=True, max_size=3))
    model_layers = [draw(layers(name)) for name in names]
    tensors = {}
    for name in draw(st.lists(st.text(max_size=6), unique=True, max_size=3)):
        if any(name == layer.name for layer in model_layers):
            continue
        shape = draw(st.lists(st.integers(0, 4), max_size=3))
        values = draw(
            st.lists(st.floats(width=32), min_size=math.prod(shape), max_size=math.prod(shape))
        )
        tensors[name] = np.array(values, dtype=np.float32).reshape(shape)
    network = None
    if draw(st.booleans()):
        network = draw(valid_graphs(model_layers))
    return CompressedModel(model_layers, network, tensors)


@st.composite
def valid_graphs(draw, model_layers):
    """A chain over the model's linear layers whose shapes line up (a graph the reader accepts),
    with float attributes of every float32 value."""
    ops = []
    first = features = None
    for layer in model_layers:
        rows, cols = layer.weight_shape[:2]
        if layer.kind != "linear" or 0 in (rows, cols) or not layer.name:
            continue
        if features is None:
            first = features = cols
        elif features != cols:
            continue
        ops.append(("linear", layer.name, {}))
        ops.append(
            (
                "leaky_relu",
                None,
                {
                    "negative_slope": draw(
                        st.floats(width=32, allow_nan=False, allow_infinity=False)
                    )
                },
            )
        )
        features = rows
    ops.append(("add", None, {"scalar": draw(st.floats(width=32, allow_nan=False))}))
    ops.append(("flatten", None, {"start_dim": draw(st.sampled_from([1, -1])), "end_dim": -1}))
    return chain(ops, (first or draw(st.integers(1, 5)),))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_round_trip_is_the_identity(model):
    data = dzip_bytes(model)
    back = read_dzip(data)
    assert_models_equal(back, model)
    assert dzip_bytes(back) == data  # reading loses nothing the writer uses
    sizes = dzip_sizes(data)
    assert sizes.total_bytes == sizes.file_bytes == len(data)
    for layer, part in zip(model.layers, sizes.layers):
        assert (part.n_weights, part.n_kept) == (layer.num_weights, layer.num_kept)
        assert part.n_entries >= part.n_kept and part.n_fillers == part.n_entries - part.n_kept


@pytest.mark.parametrize("build", list(GOLDEN_MODELS.values()), ids=list(GOLDEN_MODELS))
def test_round_trip_through_a_file(tmp_path, build):
    model = build()
    size = write_dzip(tmp_path / "model.dzip", model)
    assert size == (tmp_path / "model.dzip").stat().st_size
    assert_models_equal(read_dzip(tmp_path / "model.dzip"), model)
    assert_models_equal(read_dzip(str(tmp_path / "model.dzip")), model)


def test_writer_is_deterministic(tmp_path):
    write_dzip(tmp_path / "a.dzip", lenet5(seed=3))
    write_dzip(tmp_path / "b.dzip", lenet5(seed=3))
    assert (tmp_path / "a.dzip").read_bytes() == (tmp_path / "b.dzip").read_bytes()


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_dzip(tmp_path / "model.dzip", lenet5())
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.dzip"
    write_dzip(path, GOLDEN_MODELS["worked_example_v2.dzip"]())
    old = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("interrupted")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="interrupted"):
        write_dzip(path, lenet5())
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["model.dzip"]


def bad_layer(**kw):
    args = dict(
        name="fc",
        kind="linear",
        codebook=np.array([0.0, 1.0], dtype=np.float32),
        codes=np.array([[1, 0]], dtype=np.uint8),
        mask=np.array([[True, False]]),
        bias=None,
        weight_bits=1,
        index_bits=2,
    )
    args.update(kw)
    return CompressedModel([CompressedLayer(**args)])


def network_model(flatten, shape=(2, 2)):
    attrs = {"start_dim": 1, "end_dim": -1} | flatten
    node = Node("flatten", ("x",), ("y",), None, attrs)
    return CompressedModel([], Graph((GraphInput("x", "float32", shape),), (node,), ("y",)))


def test_weight_bits_above_the_format_limit_are_refused_by_the_layer_itself():
    with pytest.raises(ValueError, match="weight_bits 13"):
        bad_layer(weight_bits=13)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (bad_layer(name="x" * 1025), "1025 bytes"),
        (bad_layer(name="\udc80"), "surrogates"),
        (bad_layer(metadata={"stride": (1, 1)}), "read back equal"),
        (bad_layer(metadata={"f": float("nan")}), "JSON"),
        (bad_layer(metadata={"s": "x" * 5000}), "more than 4096"),
        (CompressedModel([], None, {"t": np.zeros(2)}), "float32"),
        (CompressedModel([], None, {"t": np.zeros((1,) * 9, np.float32)}), "9 dimensions"),
        (network_model({"end_dim": 2**63}, None), "int64"),
        (network_model({"start_dim": 0}), "batch dimension"),
        (network_model({"end_dim": 5}), "out of range"),
        (
            bad_layer(codes=np.zeros((1, 2**21), np.uint8), mask=np.zeros((1, 2**21), bool)),
            "more than the",
        ),
    ],
)
def test_models_the_format_cannot_hold_are_refused(tmp_path, model, match):
    with pytest.raises(ValueError, match=match):
        write_dzip(tmp_path / "model.dzip", model)
    assert list(tmp_path.iterdir()) == []
