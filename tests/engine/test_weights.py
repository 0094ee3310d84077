"""Weight ops through compressed layers and through plain tensors, against torch's functional ops
with the dequantized weights."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_helpers import assert_close, one_op_model, random_weight, sparse_input

from deepzip.compressed import CompressedModel
from deepzip.engine import Engine, product
from deepzip.graph import Graph, GraphInput, Node


def t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


def weight_model(op, attrs, x, kind, shape, compressed, seed, bias=True, pes=3):
    """(engine, dense weight, bias) for one weight op on module ``m``."""
    rng = np.random.default_rng(seed)
    layer, weight = random_weight(rng, "m", kind, shape, 0.4, bias=False)
    rows = layer.matrix_shape[0]
    # Biases: a compressed layer of a kind that carries it keeps it; the others are plain tensors.
    transposed_out = shape[1] * attrs.get("groups", 1)
    bias_values = rng.normal(0, 1, transposed_out if kind == "conv_transpose2d" else rows)
    bias_values = bias_values.astype(np.float32) if bias else None
    tensors = {}
    layers = []
    if compressed:
        if bias and kind in ("linear", "conv1d", "conv2d") and seed % 2:
            layer, weight = random_weight(rng, "m", kind, shape, 0.4, bias=True)
            bias_values = layer.bias
        elif bias:
            tensors["m.bias"] = bias_values
        layers = [layer]
    else:
        tensors["m.weight"] = weight
        if bias:
            tensors["m.bias"] = bias_values
    model = one_op_model(op, attrs, [x], layer="m", layers=layers, tensors=tensors)
    return Engine(model, pes=pes), weight, bias_values


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize(("in_shape", "out"), [((1, 7), 5), ((5, 9), 1), ((5, 3, 2, 6), 4)])
def test_linear(compressed, in_shape, out):
    x = sparse_input(np.random.default_rng(1), in_shape, 0.6)
    engine, w, b = weight_model("linear", {}, x, "linear", (out, in_shape[-1]), compressed, 3)
    assert_close(engine.run(x), F.linear(t(x), t(w), t(b)))
    assert_close(engine.run(np.zeros_like(x)), F.linear(t(np.zeros_like(x)), t(w), t(b)))


CONV2D = [
    # in_channels, out, kernel, stride, pads, dilation, groups, H, W, batch
    (1, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, 1, 1, 1),
    (3, 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 7, 6, 5),
    (3, 4, (3, 2), (2, 1), (0, 1, 2, 0), (1, 1), 1, 9, 5, 1),  # asymmetric pads
    (4, 6, (3, 3), (2, 2), (2, 2, 2, 2), (2, 2), 2, 9, 8, 5),  # dilation, groups
    (4, 4, (3, 3), (1, 2), (1, 1, 1, 1), (1, 1), 4, 5, 7, 2),  # depthwise
    (6, 3, (2, 3), (1, 1), (0, 0, 0, 0), (1, 3), 3, 4, 9, 1),
]


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize(("cin", "cout", "k", "stride", "pads", "dil", "groups", "h", "w", "n"),
                         CONV2D)  # fmt: skip
def test_conv2d(compressed, cin, cout, k, stride, pads, dil, groups, h, w, n):
    x = sparse_input(np.random.default_rng(h * w), (n, cin, h, w), 0.7)
    attrs = {"stride": stride, "pads": pads, "dilation": dil, "groups": groups}
    shape = (cout, cin // groups, *k)
    engine, wt, b = weight_model("conv2d", attrs, x, "conv2d", shape, compressed, h + w)
    top, left, bottom, right = pads
    padded = F.pad(t(x), (left, right, top, bottom))
    assert_close(engine.run(x), F.conv2d(padded, t(wt), t(b), stride, 0, dil, groups))
    zeros = np.zeros_like(x)
    padded_zeros = F.pad(t(zeros), (left, right, top, bottom))
    assert_close(engine.run(zeros), F.conv2d(padded_zeros, t(wt), t(b), stride, 0, dil, groups))
    if compressed:
        # One layout per group (a block of rows); a depthwise convolution runs directly from one
        # layout of its whole matrix.
        depthwise = groups > 1 and cin == groups
        assert len(engine.layers["m"]) == (1 if depthwise else groups)


CONV1D = [
    # in_channels, out, kernel, stride, pads, dilation, groups, L, batch
    (1, 1, 1, 1, (0, 0), 1, 1, 1, 1),
    (3, 5, 3, 2, (1, 2), 1, 1, 11, 5),
    (4, 4, 3, 1, (2, 2), 2, 4, 7, 1),
    (6, 4, 2, 3, (0, 1), 1, 2, 9, 2),
]


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize(("cin", "cout", "k", "stride", "pads", "dil", "groups", "length", "n"),
                         CONV1D)  # fmt: skip
def test_conv1d(compressed, cin, cout, k, stride, pads, dil, groups, length, n):
    x = sparse_input(np.random.default_rng(length), (n, cin, length), 0.7)
    attrs = {"stride": (stride,), "pads": pads, "dilation": (dil,), "groups": groups}
    engine, wt, b = weight_model(
        "conv1d", attrs, x, "conv1d", (cout, cin // groups, k), compressed, length
    )
    want = F.conv1d(F.pad(t(x), pads), t(wt), t(b), stride, 0, dil, groups)
    assert_close(engine.run(x), want)


CONV_T = [
    # in, out, kernel, stride, padding, output_padding, dilation, groups, H, W, batch
    (1, 1, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1), 1, 1, 1, 1),
    (3, 5, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1, 4, 5, 5),
    (4, 6, (3, 2), (2, 3), (0, 1), (1, 0), (2, 1), 2, 3, 4, 1),
    (4, 4, (2, 2), (2, 2), (0, 0), (0, 0), (1, 1), 4, 3, 3, 2),  # depthwise
    (2, 3, (4, 4), (1, 1), (2, 1), (0, 0), (1, 1), 1, 5, 2, 1),
]


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    ("cin", "cout", "k", "stride", "pad", "out_pad", "dil", "groups", "h", "w", "n"), CONV_T
)
def test_conv_transpose2d(compressed, bias, cin, cout, k, stride, pad, out_pad, dil, groups, h, w,
                          n):  # fmt: skip
    x = sparse_input(np.random.default_rng(h * w + 1), (n, cin, h, w), 0.7)
    attrs = {"stride": stride, "padding": pad, "output_padding": out_pad, "dilation": dil,
             "groups": groups}  # fmt: skip
    shape = (cin, cout // groups, *k)
    engine, wt, b = weight_model(
        "conv_transpose2d", attrs, x, "conv_transpose2d", shape, compressed, h, bias
    )
    want = F.conv_transpose2d(
        t(x), t(wt), None if b is None else t(b), stride, pad, out_pad, groups, dil
    )
    assert_close(engine.run(x), want)
    if compressed:
        assert len(engine.layers["m"]) == groups  # a group is a block of columns


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize("tokens_shape", [(1, 1), (5, 7), (5, 2, 3)])
def test_embedding(compressed, tokens_shape):
    rng = np.random.default_rng(4)
    tokens = rng.integers(0, 11, tokens_shape)
    engine, wt, _ = weight_model("embedding", {}, tokens, "embedding", (11, 6), compressed, 0,
                                 bias=False)  # fmt: skip
    got = engine.run(tokens)
    np.testing.assert_array_equal(got, F.embedding(t(tokens), t(wt)).numpy())
    with pytest.raises(ValueError, match=r"embedding 'm': a token index is outside 0..10"):
        engine.run(np.full(tokens_shape, 11))


def test_embedding_decodes_only_the_tokens_looked_up(monkeypatch):
    rng = np.random.default_rng(5)
    layer, weight = random_weight(rng, "emb", "embedding", (1000, 8), 0.5)
    tokens = np.array([[3, 999, 3], [42, 0, 42]])
    model = one_op_model("embedding", {}, [tokens], layer="emb", layers=[layer])
    engine = Engine(model, pes=3)
    asked = []
    real = product.decode_columns

    def spy(part, columns):
        asked.append(np.array(columns))
        decoded = real(part, columns)
        # Only the asked columns' entries are read: the reference, one-hot columns, agrees.
        np.testing.assert_allclose(decoded, product.decode_columns_reference(part, columns))
        return decoded

    monkeypatch.setattr("deepzip.engine.weights.decode_columns", spy)
    got = engine.run(tokens)
    np.testing.assert_array_equal(got, weight[tokens])
    assert len(asked) == 1 and asked[0].tolist() == [0, 3, 42, 999]


def test_decode_columns_reads_nothing_else():
    # Entries of the other columns are not read: corrupting them changes nothing.
    import dataclasses

    rng = np.random.default_rng(6)
    layer, weight = random_weight(rng, "emb", "embedding", (30, 5), 0.6)
    from deepzip.engine import EngineLayer

    layout = EngineLayer.from_compressed(layer, 2)
    codes = layout.entries.copy()
    for p in range(2):
        for j in range(30):
            if j not in (4, 17):
                lo, hi = layout.col_ptr[p, j], layout.col_ptr[p, j + 1]
                codes[lo:hi] = (codes[lo:hi] & 0xF0) | 0x0F  # every code -> 15
    corrupt = dataclasses.replace(layout, entries=codes)
    np.testing.assert_array_equal(product.decode_columns(corrupt, np.array([17, 4])),
                                  weight[[17, 4]].T)  # fmt: skip


def _fusion_model(second_reader: bool) -> CompressedModel:
    rng = np.random.default_rng(7)
    layer, _ = random_weight(rng, "fc", "linear", (6, 5), 0.5, bias=True)
    nodes = [Node("linear", ("x",), ("h",), "fc"), Node("relu", ("h",), ("r",))]
    outputs = ("r",)
    if second_reader:
        nodes.append(Node("tanh", ("h",), ("th",)))
        outputs = ("r", "th")
    graph = Graph((GraphInput("x", "float32", (5,)),), tuple(nodes), outputs)
    return CompressedModel([layer], graph, {})


def test_relu_fuses_into_the_product_only_when_nothing_else_reads_it():
    x = sparse_input(np.random.default_rng(8), (4, 5), 1.0)
    fused = Engine(_fusion_model(False))
    assert len(fused._steps) == 1 and fused._steps[0].weight.relu
    unfused = Engine(_fusion_model(True))
    assert len(unfused._steps) == 3 and not unfused._steps[0].weight.relu
    r, th = unfused.run(x)
    np.testing.assert_allclose(fused.run(x), r, rtol=1e-6)
    assert (th < 0).any()  # the pre-activation reached tanh, not the ReLU's output


def test_weight_op_on_a_layer_of_another_kind_is_refused():
    rng = np.random.default_rng(9)
    layer, _ = random_weight(rng, "m", "linear", (4, 12), 0.5)
    x = np.zeros((1, 3, 3, 3), np.float32)
    attrs = {"stride": (1, 1), "pads": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
    with pytest.raises(ValueError, match=r"conv2d 'm'.*linear layer 'm'"):
        Engine(one_op_model("conv2d", attrs, [x], layer="m", layers=[layer]))
