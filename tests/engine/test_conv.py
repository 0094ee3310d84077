"""The direct convolutions (``deepzip.engine.conv``): sparse (1x1 and kxk) and depthwise kernels
against dense torch ``F.conv2d`` of the decoded weights and against the slow numpy references, on
awkward shapes; the engine's conv ops through them; whole compact networks against torch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_helpers import assert_close, make_layer, one_op_model, sparse_input

from deepzip.engine import Engine, EngineLayer, conv
from deepzip.engine.parameters import DenseMatrix


def t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


def conv_weight(
    rng, shape, density=0.4, bias=True, weight_bits=4, index_bits=4, empty_in=(), empty_out=()
):
    """A compressed conv2d layer of weight ``shape`` and its dequantized weight; the input
    channels ``empty_in`` (whole columns of the matrix) and the output channels ``empty_out`` keep
    no weight."""
    n_codes = 2**weight_bits
    mask = rng.random(shape) < density
    mask[:, list(empty_in)] = False
    mask[list(empty_out)] = False
    codes = np.zeros(shape, dtype=np.uint8)
    codes[mask] = rng.integers(1, n_codes, int(mask.sum()))
    codebook = np.concatenate([[0.0], rng.normal(0.0, 0.5, n_codes - 1)]).astype(np.float32)
    bias_values = rng.normal(0.0, 1.0, shape[0]).astype(np.float32) if bias else None
    layer = make_layer("m", "conv2d", codebook, codes, bias_values, weight_bits, index_bits)
    return layer, codebook[codes]


def torch_conv(x, weight, bias, stride, pads, dilation, groups, relu):
    top, left, bottom, right = pads
    padded = F.pad(t(x), (left, right, top, bottom))
    y = F.conv2d(padded, t(weight), None if bias is None else t(bias), stride, 0, dilation, groups)
    return F.relu(y) if relu else y


def group_layers(rng, cin, cout, kernel, groups, pes, **options):
    """One layout per group, the whole dequantized weight and bias."""
    layers, weights, biases = [], [], []
    for _ in range(groups):
        layer, weight = conv_weight(rng, (cout // groups, cin // groups, *kernel), **options)
        layers.append(EngineLayer.from_compressed(layer, pes))
        weights.append(weight)
        biases.append(layer.bias)
    bias = None if biases[0] is None else np.concatenate(biases)
    return layers, np.concatenate(weights), bias


SPARSE = [
    # in, out, kernel, stride, pads (top, left, bottom, right), dilation, groups, H, W, N, pes
    (5, 3, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, 4, 7, 2, 2),
    (7, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, 3, 5, 1, 4),  # one output channel, pes > rows
    (1, 9, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, 1, 1, 3, 1),  # one position
    (33, 17, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, 11, 13, 1, 3),  # odd channel counts
    (6, 5, (1, 1), (2, 1), (1, 0, 2, 1), (1, 1), 1, 5, 4, 2, 2),  # 1x1 with stride and pads
    (6, 4, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 2, 3, 3, 3, 3),  # grouped 1x1
    (3, 8, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, 9, 8, 2, 3),
    (4, 6, (3, 2), (1, 2), (0, 1, 2, 0), (2, 1), 2, 7, 9, 1, 2),  # asymmetric, dilation, groups
    (3, 5, (3, 3), (1, 1), (1, 1, 1, 1), (2, 2), 1, 6, 5, 2, 7),  # dilation 2, pes > rows
    (2, 2, (5, 5), (3, 2), (2, 0, 1, 3), (1, 2), 1, 11, 12, 2, 1),
    (3, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 1, 1, 1, 2),  # a 1x1 input, all padding
]


@pytest.mark.parametrize(("cin", "cout", "k", "stride", "pads", "dil", "groups", "h", "w", "n",
                          "pes"), SPARSE)  # fmt: skip
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("row_kernel_positions", [0, 10**9])  # the row kernel, the column one
def test_sparse_conv_against_torch_and_reference(
    monkeypatch, cin, cout, k, stride, pads, dil, groups, h, w, n, pes, relu, row_kernel_positions
):
    monkeypatch.setattr(conv, "ROW_KERNEL_POSITIONS", row_kernel_positions)
    rng = np.random.default_rng(cin * 100 + h)
    layers, weight, bias = group_layers(rng, cin, cout, k, groups, pes, bias=relu)
    x = sparse_input(rng, (n, cin, h, w), 0.7)
    got = conv.sparse_conv(layers, x, k, stride, pads, dil, relu)
    want = torch_conv(x, weight, bias, stride, pads, dil, groups, relu)
    assert_close(got, want)
    assert_close(got, conv.conv_reference(layers, x, k, stride, pads, dil, relu))
    zeros = np.zeros_like(x)  # all-zero input: only the bias (after the ReLU)
    assert_close(conv.sparse_conv(layers, zeros, k, stride, pads, dil, relu),
                 torch_conv(zeros, weight, bias, stride, pads, dil, groups, relu))  # fmt: skip


def _check_kernel(rng, channels, density, empty_in, empty_out, kxk_density, weight_bits,
                  index_bits, threads):  # fmt: skip
    """A 1x1 layer of ``channels`` (out, in) with empty input and output channels and a 3x3
    stride-(2, 1) dilated padded layer, each at batch 1 and 2, against torch and the reference;
    the 1x1 input has whole all-zero tiles of every channel."""
    out_channels, in_channels = channels
    layer, weight = conv_weight(rng, (out_channels, in_channels, 1, 1), density, True,
                                weight_bits, index_bits, empty_in=empty_in,
                                empty_out=empty_out)  # fmt: skip
    part = EngineLayer.from_compressed(layer, 2)
    if index_bits < 4:
        assert part.n_fillers > 0
    x = sparse_input(rng, (2, in_channels, 13, 17), 0.5)
    x[:, :, 2:9] = 0.0  # whole all-zero tiles of every channel
    for batch in (1, 2):
        got = conv.sparse_conv([part], x[:batch], (1, 1), relu=True, threads=threads)
        want = torch_conv(x[:batch], weight, layer.bias, 1, (0,) * 4, 1, 1, True)
        assert_close(got, want)
        assert_close(got, conv.conv_reference([part], x[:batch], (1, 1), relu=True))
    kxk, weight = conv_weight(rng, (5, 3, 3, 3), kxk_density, False, weight_bits, index_bits,
                              empty_in=(1,))  # fmt: skip
    part = EngineLayer.from_compressed(kxk, 3)
    geometry = ((3, 3), (2, 1), (1, 0, 1, 2), (1, 2))
    for batch in (1, 2):
        got = conv.sparse_conv([part], x[:batch, :3], *geometry, threads=threads)
        want = torch_conv(x[:batch, :3], weight, None, *geometry[1:], 1, False)
        assert_close(got, want)


@pytest.mark.parametrize("accumulator", [64, 300, 700, 10**6])
@pytest.mark.parametrize(("weight_bits", "index_bits"), [(4, 4), (8, 2), (2, 1)])
@pytest.mark.parametrize("threads", [1, 2])
def test_sparse_conv_tiles_blocks_layouts_and_fillers(monkeypatch, accumulator, weight_bits,
                                                      index_bits, threads):  # fmt: skip
    # 9 rows over 2 PEs (5 and 4 local rows), 221 positions: tiles of 64 (the last one 29 wide)
    # and blocks of 1 row, tiles of 64 and blocks of 4 rows (PE 0 has two), two tiles of 128 in
    # one block, one tile of 256; packed and split entries; narrow gaps, so filler zeros; empty
    # input and output channels.
    monkeypatch.setattr(conv, "ACCUMULATOR_VALUES", accumulator)
    rng = np.random.default_rng(weight_bits * 10 + index_bits)
    _check_kernel(rng, (9, 11), 0.2, (0, 4, 10), (3,), 0.3, weight_bits, index_bits, threads)


@pytest.mark.parametrize("row_tile", [64, 128, 10**6])
@pytest.mark.parametrize(("weight_bits", "index_bits"), [(4, 4), (8, 2), (2, 1)])
@pytest.mark.parametrize("threads", [1, 2])
def test_sparse_conv_row_kernel_tiles_layouts_and_fillers(monkeypatch, row_tile, weight_bits,
                                                          index_bits, threads):  # fmt: skip
    # The row kernel: 221 positions in tiles of 64 (the last one 29 wide), of 128 (the last one
    # 93) or in one; rows of 0 to 20 entries (the eight-, four- and one-entry passes); the last
    # channels' runs end at the end of the sample, so their padded blocks take the exact width;
    # packed and split entries; narrow gaps (PE 1's local rows 1 to 5 are empty), so filler
    # zeros; empty input and output channels.
    monkeypatch.setattr(conv, "ROW_KERNEL_POSITIONS", 0)
    monkeypatch.setattr(conv, "ROW_TILE", row_tile)
    rng = np.random.default_rng(weight_bits * 10 + index_bits + 1)
    _check_kernel(rng, (30, 23), 0.5, (0, 4, 22), (3, 5, 7, 9, 11), 0.6, weight_bits, index_bits,
                  threads)  # fmt: skip


DEPTHWISE = [
    # channels, multiplier, kernel, stride, pads, dilation, H, W, N, pes
    (4, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 7, 6, 2, 3),
    (5, 1, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 9, 7, 1, 2),  # stride 2, odd sizes
    (3, 1, (3, 3), (2, 2), (0, 1, 2, 1), (1, 1), 8, 9, 2, 2),  # asymmetric pads
    (6, 1, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 5, 7, 1, 4),  # dilation 2
    (3, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 5, 5, 1, 8),  # pes > channels
    (5, 2, (3, 3), (2, 2), (0, 1, 2, 1), (2, 2), 9, 8, 1, 2),  # depthwise multiplier 2
    (3, 3, (5, 5), (3, 2), (2, 1, 0, 2), (1, 1), 11, 10, 2, 2),
    (3, 1, (3, 2), (2, 1), (1, 0, 0, 2), (1, 2), 5, 9, 2, 3),
    (4, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 3, 4, 1, 2),  # 1x1: a per-channel scale
    (2, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 1, 3, 1),  # a 1x1 input
]


@pytest.mark.parametrize(("c", "m", "k", "stride", "pads", "dil", "h", "w", "n", "pes"), DEPTHWISE)
@pytest.mark.parametrize("relu", [False, True])
def test_depthwise_against_torch_and_reference(c, m, k, stride, pads, dil, h, w, n, pes, relu):
    rng = np.random.default_rng(c * 10 + h)
    # Channel 1 keeps no tap at all (its output is the bias); the others about half.
    layer, weight = conv_weight(rng, (c * m, 1, *k), 0.6, bias=relu, empty_out=(1,))
    part = EngineLayer.from_compressed(layer, pes)
    x = sparse_input(rng, (n, c, h, w), 0.8)
    want = torch_conv(x, weight, layer.bias, stride, pads, dil, c, relu)
    got = conv.depthwise_conv(part, x, k, stride, pads, dil, relu)
    assert_close(got, want)
    assert_close(got, conv.depthwise_reference(part, x, k, stride, pads, dil, relu))
    dense = DenseMatrix("m", weight.reshape(c * m, -1), layer.bias)  # a plain weight
    assert_close(conv.depthwise_conv(dense, x, k, stride, pads, dil, relu), want)
    zeros = np.zeros_like(x)
    assert_close(conv.depthwise_conv(part, zeros, k, stride, pads, dil, relu),
                 torch_conv(zeros, weight, layer.bias, stride, pads, dil, c, relu))  # fmt: skip


def test_bad_inputs_are_refused():
    rng = np.random.default_rng(0)
    layer, _ = conv_weight(rng, (4, 3, 3, 3))
    part = EngineLayer.from_compressed(layer, 2)
    with pytest.raises(ValueError, match=r"needs inputs \(N, 3, H, W\)"):
        conv.sparse_conv([part], np.zeros((1, 4, 5, 5), np.float32), (3, 3))
    with pytest.raises(ValueError, match="float32"):
        conv.sparse_conv([part], np.zeros((1, 3, 5, 5)), (3, 3))
    with pytest.raises(ValueError, match="does not fit"):
        conv.sparse_conv([part], np.zeros((1, 3, 2, 5), np.float32), (3, 3))
    depthwise, _ = conv_weight(rng, (4, 1, 3, 3))
    part = EngineLayer.from_compressed(depthwise, 2)
    with pytest.raises(ValueError, match="do not read"):
        conv.depthwise_conv(part, np.zeros((1, 3, 5, 5), np.float32), (3, 3))
    with pytest.raises(ValueError, match="has 4 columns"):
        conv.depthwise_conv(part, np.zeros((1, 4, 5, 5), np.float32), (2, 2))


# -- the engine's conv ops -------------------------------------------------------------------------


OPS = [
    # in, out, kernel, stride, pads, dilation, groups: the op's path
    (6, 5, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),  # pointwise
    (6, 4, (1, 1), (2, 2), (1, 0, 0, 1), (1, 1), 2),  # pointwise, grouped, strided, padded
    (5, 5, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 5),  # depthwise
    (3, 6, (3, 3), (1, 1), (0, 1, 1, 0), (2, 1), 3),  # depthwise, multiplier 2
    (4, 6, (3, 3), (2, 1), (1, 1, 1, 1), (1, 1), 2),  # kxk
]


@pytest.mark.parametrize(("cin", "cout", "k", "stride", "pads", "dil", "groups"), OPS)
@pytest.mark.parametrize("compressed", [True, False])
def test_engine_conv_ops(cin, cout, k, stride, pads, dil, groups, compressed):
    rng = np.random.default_rng(cin + cout)
    layer, weight = conv_weight(rng, (cout, cin // groups, *k), 0.5)
    attrs = {"stride": stride, "pads": pads, "dilation": dil, "groups": groups}
    x = sparse_input(rng, (3, cin, 7, 8), 0.7)
    if compressed:
        model = one_op_model("conv2d", attrs, [x], layer="m", layers=[layer])
    else:
        tensors = {"m.weight": weight, "m.bias": layer.bias}
        model = one_op_model("conv2d", attrs, [x], layer="m", tensors=tensors)
    engine = Engine(model, pes=2)
    want = torch_conv(x, weight, layer.bias, stride, pads, dil, groups, False)
    assert_close(engine.run(x), want)
    assert_close(engine.run(x[:1]), want[:1])
    step = engine._steps[0]
    depthwise = groups == cin
    expected = "depthwise" if depthwise else "pointwise" if k == (1, 1) else "conv"
    assert step.weight.direct == (expected if compressed or k == (1, 1) or depthwise else None)
    if compressed and depthwise:
        assert len(engine.layers["m"]) == 1  # one layout of the whole matrix
    if compressed and not depthwise:
        # EIE's 16-bit fixed point still runs through im2col (per-group layouts).
        fixed = Engine(model, pes=2, arithmetic="fixed16").run(x)
        assert_close(fixed, want, 2e-3)


def test_engine_depthwise_fixed16_builds_the_group_layouts():
    rng = np.random.default_rng(3)
    layer, weight = conv_weight(rng, (4, 1, 3, 3), 0.7)
    attrs = {"stride": (1, 1), "pads": (1, 1, 1, 1), "dilation": (1, 1), "groups": 4}
    x = sparse_input(rng, (2, 4, 6, 5), 0.7)
    model = one_op_model("conv2d", attrs, [x], layer="m", layers=[layer])
    want = torch_conv(x, weight, layer.bias, (1, 1), (1, 1, 1, 1), (1, 1), 4, False)
    assert_close(Engine(model, pes=2, arithmetic="fixed16").run(x), want, 2e-3)


@pytest.mark.parametrize(("k", "groups"), [(1, 1), (3, 4), (3, 2)])
def test_engine_conv1d_direct(k, groups):
    rng = np.random.default_rng(k + groups)
    shape = (4, 4 // groups, k)
    layer, weight = conv_weight(rng, (*shape, 1), 0.6)
    layer = make_layer("m", "conv1d", layer.codebook, layer.codes[..., 0], layer.bias)
    attrs = {"stride": (2,), "pads": (1, 0), "dilation": (1,), "groups": groups}
    x = sparse_input(rng, (2, 4, 11), 0.7)
    engine = Engine(one_op_model("conv1d", attrs, [x], layer="m", layers=[layer]), pes=3)
    want = F.conv1d(F.pad(t(x), (1, 0)), t(weight[..., 0]), t(layer.bias), 2, 0, 1, groups)
    assert_close(engine.run(x), want)


# -- whole compact networks ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "paths"), [("mobilenet-v1", {"pointwise", "depthwise", "conv"}),
                                             ("squeezenet", {"pointwise", "conv"})])  # fmt: skip
def test_compact_network_equals_torch(name, paths):
    from deepzip.capture import fold_batchnorm
    from deepzip.models import CATALOGUE, build_model
    from deepzip.network import to_compressed_model
    from deepzip.prune import PruneConfig, iterative_prune
    from deepzip.share import QuantizeConfig, share_weights

    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.rand(3, *CATALOGUE[name].input_shape, generator=torch.Generator().manual_seed(1))
    fold_batchnorm(model, (x[:1],))
    iterative_prune(model, PruneConfig(sparsity=0.7, steps=1, retrain_epochs=0), lambda m, s: 0)
    quantize = QuantizeConfig(conv_bits=6, fc_bits=5)
    share_weights(model, quantize)
    compressed = to_compressed_model(model, quantize, example_inputs=(x[:1],))
    engine = Engine(compressed, pes=2)
    kinds = {step.weight.direct for step in engine._steps if step.weight is not None}
    assert paths <= kinds  # the direct paths ran
    with torch.no_grad():
        want = model(x).numpy()
    for batch in (1, 3):
        assert_close(engine.run(x[:batch].numpy()), want[:batch])


@pytest.mark.parametrize(
    "shape, stride, pads, kernel",
    [
        ((2, 3, 7, 9), (1, 1), (1, 1, 1, 1), (3, 3)),
        ((1, 2, 8, 8), (2, 2), (1, 1, 1, 1), (3, 3)),
        ((1, 2, 8, 7), (2, 3), (0, 2, 1, 0), (3, 5)),
        ((1, 1, 5, 5), (3, 2), (2, 0, 0, 1), (2, 2)),
        ((1, 1, 1, 1), (2, 2), (3, 3, 3, 3), (5, 5)),
    ],
)
def test_phases_against_padding_then_slicing(shape, stride, pads, kernel):
    """``conv.phases`` (each phase one strided slice of the input) against the obvious way:
    ``np.pad``, then every phase sliced out of the padded plane."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    (sh, sw), (top, left, bottom, right) = stride, pads
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (padded.shape[2] - kernel[0]) // sh + 1
    ow = (padded.shape[3] - kernel[1]) // sw + 1
    hq, wq = oh + (kernel[0] - 1) // sh, ow + (kernel[1] - 1) // sw
    want = np.zeros((*shape[:2], sh, sw, hq, wq), np.float32)
    for a in range(sh):
        for b in range(sw):
            part = padded[:, :, a::sh, b::sw][:, :, :hq, :wq]
            want[:, :, a, b, : part.shape[2], : part.shape[3]] = part
    got = conv.phases(x, stride, pads, hq, wq)
    np.testing.assert_array_equal(got, want.reshape(shape[0], shape[1], -1))


@pytest.mark.parametrize("pairs", [((1, 2),), ((0, 0), (3, 1)), ((2, 0), (0, 0), (1, 1))])
def test_pad_trailing_is_np_pad(pairs):
    from deepzip.engine.spatial import pad_trailing

    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    lead = [(0, 0)] * (x.ndim - len(pairs))
    for fill in (0, -np.inf):
        np.testing.assert_array_equal(
            pad_trailing(x, pairs, fill), np.pad(x, lead + list(pairs), constant_values=fill)
        )
    with pytest.raises(ValueError, match="pads must be >= 0"):
        pad_trailing(x, ((0, -1),))
