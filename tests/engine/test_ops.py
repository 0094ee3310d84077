"""Every op without a compressed weight, one-op graphs against torch on awkward shapes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_helpers import assert_close, one_op_model
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from deepzip.engine import Engine


def run(op, attrs, *inputs, outputs=1, **model):
    engine = Engine(one_op_model(op, attrs, list(inputs), outputs=outputs, **model), pes=2)
    return engine.run(*inputs)


def t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


def data(shape, seed=0, scale=2.0, zeros=False):
    if zeros:
        return np.zeros(shape, dtype=np.float32)
    return (np.random.default_rng(seed).normal(0, scale, shape)).astype(np.float32)


SHAPES = [(1, 1), (5, 3, 7), (1, 2, 3, 5), (5, 1, 4, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("op", "attrs", "reference"),
    [
        ("relu", {}, F.relu),
        ("relu6", {}, F.relu6),
        ("leaky_relu", {"negative_slope": 0.1}, lambda x: F.leaky_relu(x, 0.1)),
        ("hardswish", {}, F.hardswish),
        ("sigmoid", {}, torch.sigmoid),
        ("tanh", {}, torch.tanh),
        ("gelu", {"approximate": "none"}, F.gelu),
        ("gelu", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
        ("softmax", {"dim": 1}, lambda x: F.softmax(x, 1)),
        ("softmax", {"dim": -1}, lambda x: F.softmax(x, -1)),
        ("add", {"scalar": 1.5}, lambda x: x + 1.5),
        ("sub", {"scalar": -2.0}, lambda x: x - -2.0),
        ("mul", {"scalar": 3.0}, lambda x: x * 3.0),
        ("div", {"scalar": 7.0}, lambda x: x / 7.0),
    ],
)
def test_elementwise(op, attrs, reference, shape):
    for zeros in (False, True):
        x = data(shape, seed=len(shape), scale=4.0, zeros=zeros)
        assert_close(run(op, attrs, x), reference(t(x)))


def test_sigmoid_of_large_values():
    x = np.array([[-100.0, -30.0, 0.0, 30.0, 100.0]], dtype=np.float32)
    assert_close(run("sigmoid", {}, x), torch.sigmoid(t(x)))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_broadcast(op):
    a, b = data((5, 3, 4), 1), data((5, 1, 4), 2) + 5.0
    want = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}[op](t(a), t(b))
    assert_close(run(op, {"scalar": 0.0}, a, b), want)
    # Against a model tensor without a batch dimension (a `constant` node).
    from deepzip.compressed import CompressedModel
    from deepzip.graph import Graph, GraphInput, Node

    const = data((3, 1), 3) + 5.0
    graph = Graph(
        (GraphInput("x", "float32", (3, 4)),),
        (
            Node("constant", (), ("c",), "scale"),
            Node(op, ("x", "c"), ("y",), attrs={"scalar": 0.0}),
        ),
        ("y",),
    )
    model = CompressedModel([], graph, {"scale": const})
    want = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}[op](
        t(a), t(const)
    )
    assert_close(Engine(model).run(a), want)


def test_integer_arithmetic_stays_integer():
    x = np.arange(10, dtype=np.int64).reshape(5, 2)
    got = run("add", {"scalar": 3.0}, x)
    assert got.dtype == np.int64 and got.tolist() == (x + 3).tolist()
    assert run("div", {"scalar": 4.0}, x).dtype == np.float32


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((5, 3, 4), (5, 4, 2)), ((1, 4), (1, 4, 3)), ((5, 2, 3, 4), (5, 2, 4, 1))],
)
def test_matmul(a_shape, b_shape):
    a, b = data(a_shape, 4), data(b_shape, 5)
    assert_close(run("matmul", {}, a, b), torch.matmul(t(a), t(b)))


@pytest.mark.parametrize(("dims", "keepdim"), [((2, 3), False), ((2, 3), True), ((-1,), False)])
def test_mean(dims, keepdim):
    x = data((5, 3, 4, 7), 6)
    assert_close(run("mean", {"dims": dims, "keepdim": keepdim}, x), t(x).mean(dims, keepdim))


POOLS = [
    # kernel, stride, padding, dilation, ceil_mode, H, W
    ((2, 2), (2, 2), (0, 0), (1, 1), False, 6, 6),
    ((3, 3), (2, 2), (1, 1), (1, 1), True, 7, 6),
    ((3, 2), (2, 1), (1, 0), (2, 1), False, 9, 5),
    ((2, 3), (3, 2), (1, 1), (1, 2), True, 8, 11),
    ((3, 3), (3, 3), (1, 1), (1, 1), True, 5, 5),  # ceil_mode: a window starting in padding
    ((1, 1), (1, 1), (0, 0), (1, 1), False, 1, 1),
    ((3, 3), (1, 1), (1, 1), (1, 1), False, 1, 3),
]


@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation", "ceil", "h", "w"), POOLS)
@pytest.mark.parametrize("batch", [1, 5])
def test_max_pool2d_and_unpool(kernel, stride, padding, dilation, ceil, h, w, batch):
    attrs = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation,
             "ceil_mode": ceil}  # fmt: skip
    x = data((batch, 3, h, w), h * w)
    values, indices = run("max_pool2d", attrs, x, outputs=2)
    want, want_indices = F.max_pool2d(t(x), kernel, stride, padding, dilation, ceil, True)
    assert_close(values, want)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices, want_indices.numpy())
    assert_close(run("max_pool2d", attrs, x), want)
    unpooled = run("max_unpool2d", {"output_size": (h, w)}, values, indices)
    scattered = torch.zeros(batch, 3, h * w).scatter_(2, want_indices.flatten(2), want.flatten(2))
    assert_close(unpooled, scattered.reshape(batch, 3, h, w))
    if dilation == (1, 1):
        assert_close(unpooled, F.max_unpool2d(want, want_indices, kernel, stride, padding, (h, w)))


def test_max_pool2d_ties_and_zeros_pick_the_first():
    x = np.zeros((1, 1, 4, 5), dtype=np.float32)
    attrs = {"kernel": (2, 2), "stride": (1, 2), "padding": (1, 1), "dilation": (1, 1),
             "ceil_mode": True}  # fmt: skip
    values, indices = run("max_pool2d", attrs, x, outputs=2)
    want, want_indices = F.max_pool2d(t(x), (2, 2), (1, 2), (1, 1), 1, True, True)
    np.testing.assert_array_equal(values, want.numpy())
    np.testing.assert_array_equal(indices, want_indices.numpy())


def test_max_pool2d_propagates_a_nan_as_torch():
    x = data((1, 2, 5, 6), 3)
    x[0, 1, 2, 3] = np.nan
    attrs = {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1), "dilation": (1, 1),
             "ceil_mode": True}  # fmt: skip
    want, want_indices = F.max_pool2d(t(x), (3, 3), (2, 2), (1, 1), 1, True, True)
    assert np.isnan(want.numpy()).any()
    values, indices = run("max_pool2d", attrs, x, outputs=2)
    np.testing.assert_array_equal(values, want.numpy())
    np.testing.assert_array_equal(indices, want_indices.numpy())
    np.testing.assert_array_equal(run("max_pool2d", attrs, x), want.numpy())


AVG_POOLS = [
    # kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, H, W
    ((2, 2), (2, 2), (0, 0), False, True, 0, 6, 6),
    ((3, 3), (2, 2), (1, 1), True, True, 0, 7, 6),
    ((3, 3), (2, 2), (1, 1), True, False, 0, 7, 6),
    ((3, 2), (2, 3), (1, 1), True, False, 5, 8, 7),
    ((3, 3), (3, 3), (1, 1), True, True, 0, 5, 5),
    ((2, 2), (1, 1), (1, 1), False, False, 0, 1, 1),
]


@pytest.mark.parametrize(("kernel", "stride", "padding", "ceil", "include", "divisor", "h", "w"),
                         AVG_POOLS)  # fmt: skip
@pytest.mark.parametrize("batch", [1, 5])
def test_avg_pool2d(kernel, stride, padding, ceil, include, divisor, h, w, batch):
    attrs = {"kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil,
             "count_include_pad": include, "divisor_override": divisor}  # fmt: skip
    x = data((batch, 2, h, w), h + w)
    want = F.avg_pool2d(t(x), kernel, stride, padding, ceil, include, divisor or None)
    assert_close(run("avg_pool2d", attrs, x), want)


@pytest.mark.parametrize(
    ("shape", "out"),
    [
        ((5, 3, 7, 5), (3, 2)),
        ((1, 1, 4, 4), (1, 1)),
        ((3, 5, 7, 3), (1, 1)),  # global pooling: one mean per plane
        ((2, 2, 2, 3), (5, 4)),
        ((1, 2, 9, 9), (9, 9)),
    ],
)
def test_adaptive_avg_pool2d(shape, out):
    x = data(shape, 7)
    assert_close(run("adaptive_avg_pool2d", {"output_size": out}, x),
                 F.adaptive_avg_pool2d(t(x), out))  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "size", "scales"),
    [
        ((5, 2, 7, 5), (10, 3), None),
        ((1, 1, 3, 4), (6, 8), (2.0, 2.0)),
        ((2, 3, 5, 7), (7, 10), (1.5, 1.5)),
        ((1, 2, 4, 3), (9, 5), None),
        ((1, 1, 1, 1), (3, 2), None),
        ((2, 1, 6, 6), (3, 4), (0.5, 0.75)),
    ],
)
@pytest.mark.parametrize(("mode", "align"), [("nearest", False), ("bilinear", False),
                                             ("bilinear", True)])  # fmt: skip
def test_upsample(shape, size, scales, mode, align):
    x = data(shape, 8)
    attrs = {"mode": mode, "size": size, "scales": scales or (0.0, 0.0), "align_corners": align}
    kwargs = {"align_corners": align} if mode == "bilinear" else {}
    if scales is None:
        want = F.interpolate(t(x), size=size, mode=mode, **kwargs)
    else:
        want = F.interpolate(t(x), scale_factor=scales, mode=mode, **kwargs)
    assert tuple(want.shape[2:]) == size
    assert_close(run("upsample", attrs, x), want)


SHAPE_CASES = [
    ("flatten", {"start_dim": 1, "end_dim": -1}, (5, 3, 2, 4), lambda x: x.flatten(1)),
    ("flatten", {"start_dim": 2, "end_dim": 3}, (1, 3, 2, 4), lambda x: x.flatten(2, 3)),
    ("reshape", {"shape": (4, -1)}, (5, 3, 2, 4), lambda x: x.reshape(5, 4, -1)),
    ("permute", {"dims": (0, 2, 3, 1)}, (5, 3, 2, 4), lambda x: x.permute(0, 2, 3, 1)),
    ("transpose", {"dim0": 1, "dim1": -1}, (1, 3, 2, 4), lambda x: x.transpose(1, -1)),
    ("select", {"dim": 2, "index": -1}, (5, 3, 2, 4), lambda x: x.select(2, -1)),
    ("slice", {"dim": 3, "start": 1, "end": 2**63 - 1, "step": 2}, (5, 3, 2, 5),
     lambda x: x[:, :, :, 1::2]),
    ("slice", {"dim": 1, "start": -2, "end": 100, "step": 1}, (1, 3, 2, 5),
     lambda x: x[:, -2:100]),
    ("squeeze", {"dim": 2}, (5, 3, 1, 4), lambda x: x.squeeze(2)),
    ("squeeze", {"dim": 1}, (5, 3, 1, 4), lambda x: x.squeeze(1)),  # not 1: unchanged
    ("unsqueeze", {"dim": -1}, (5, 3), lambda x: x.unsqueeze(-1)),
    ("unsqueeze", {"dim": 1}, (1, 3), lambda x: x.unsqueeze(1)),
]  # fmt: skip


@pytest.mark.parametrize(("op", "attrs", "shape", "reference"), SHAPE_CASES)
def test_shape_ops(op, attrs, shape, reference):
    x = data(shape, 9)
    np.testing.assert_array_equal(run(op, attrs, x), reference(t(x)).numpy())


def test_cat():
    a, b, c = data((5, 3, 2), 1), data((5, 1, 2), 2), data((5, 4, 2), 3)
    np.testing.assert_array_equal(run("cat", {"dim": 1}, a, b, c), torch.cat([t(a), t(b), t(c)], 1))
    np.testing.assert_array_equal(run("cat", {"dim": -1}, a, a), torch.cat([t(a), t(a)], -1))


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(5, 3, 4, 2), (1, 3), (5, 3, 7)])
def test_batch_norm(affine, shape):
    rng = np.random.default_rng(10)
    channels = shape[1]
    tensors = {
        "bn.running_mean": rng.normal(0, 1, channels).astype(np.float32),
        "bn.running_var": rng.uniform(0.2, 3, channels).astype(np.float32),
    }
    if affine:
        tensors["bn.weight"] = rng.normal(1, 0.5, channels).astype(np.float32)
        tensors["bn.bias"] = rng.normal(0, 1, channels).astype(np.float32)
    x = data(shape, 11)
    want = F.batch_norm(
        t(x), t(tensors["bn.running_mean"]), t(tensors["bn.running_var"]),
        t(tensors["bn.weight"]) if affine else None, t(tensors["bn.bias"]) if affine else None,
        False, 0.0, 1e-3,
    )  # fmt: skip
    got = run("batch_norm", {"eps": 1e-3}, x, layer="bn", tensors=tensors)
    assert_close(got, want)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(("shape", "normalized"), [((5, 3, 4), (4,)), ((1, 2, 3, 5), (3, 5))])
def test_layer_norm(affine, shape, normalized):
    rng = np.random.default_rng(12)
    tensors = {}
    if affine:
        tensors = {"ln.weight": rng.normal(1, 0.5, normalized).astype(np.float32),
                   "ln.bias": rng.normal(0, 1, normalized).astype(np.float32)}  # fmt: skip
    x = data(shape, 13) + 3.0
    want = F.layer_norm(
        t(x), normalized, t(tensors["ln.weight"]) if affine else None,
        t(tensors["ln.bias"]) if affine else None, 1e-5,
    )  # fmt: skip
    attrs = {"normalized_shape": normalized, "eps": 1e-5}
    got = run("layer_norm", attrs, x, layer="ln" if affine else None, tensors=tensors)
    assert_close(got, want)


@pytest.mark.parametrize("channels", [1, 3])
def test_prelu(channels):
    weight = np.linspace(-0.5, 0.5, channels).astype(np.float32) + 0.1
    x = data((5, 3, 4), 14)
    got = run("prelu", {}, x, layer="act", tensors={"act.weight": weight})
    assert_close(got, F.prelu(t(x), t(weight)))


def test_graph_with_branches_and_several_outputs():
    from deepzip.compressed import CompressedModel
    from deepzip.graph import Graph, GraphInput, Node

    graph = Graph(
        (GraphInput("a", "float32", (3, 4)), GraphInput("b", "float32", (4,))),
        (
            Node("relu", ("a",), ("r",)),
            Node("unsqueeze", ("b",), ("b1",), attrs={"dim": 1}),
            Node("add", ("r", "b1"), ("s",), attrs={"scalar": 0.0}),
            Node("tanh", ("a",), ("th",)),
            Node("mul", ("s", "th"), ("m",), attrs={"scalar": 0.0}),
        ),
        ("m", "r"),
    )
    a, b = data((5, 3, 4), 15), data((5, 4), 16)
    engine = Engine(CompressedModel([], graph, {}), max_batch=2)
    m, r = engine.run(a, b)
    ta, tb = t(a), t(b)
    assert_close(m, (F.relu(ta) + tb[:, None, :]) * torch.tanh(ta))
    assert_close(r, F.relu(ta))


@settings(max_examples=60, deadline=None)
@given(
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    ceil=st.booleans(),
    include=st.booleans(),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    data_seed=st.integers(0, 1000),
    pad_fraction=st.tuples(st.integers(0, 1), st.integers(0, 1)),
)
def test_random_pools_against_torch(
    kernel, stride, dilation, ceil, include, size, data_seed, pad_fraction
):
    padding = tuple(f * (k // 2) for f, k in zip(pad_fraction, kernel))  # torch: pad <= k / 2
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    assume(all(s + 2 * p >= w for s, p, w in zip(size, padding, span)))
    x = data((2, 1, *size), data_seed)
    attrs = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation,
             "ceil_mode": ceil}  # fmt: skip
    values, indices = run("max_pool2d", attrs, x, outputs=2)
    want, want_indices = F.max_pool2d(t(x), kernel, stride, padding, dilation, ceil, True)
    assert_close(values, want)
    np.testing.assert_array_equal(indices, want_indices.numpy())
    assert_close(run("max_pool2d", attrs, x), want)  # the values alone: another path
    if all(s + 2 * p >= k for s, p, k in zip(size, padding, kernel)):
        attrs = {"kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil,
                 "count_include_pad": include, "divisor_override": 0}  # fmt: skip
        want = F.avg_pool2d(t(x), kernel, stride, padding, ceil, include)
        assert_close(run("avg_pool2d", attrs, x), want)
