"""check_graph against torch: every graph it accepts runs in torch with the shapes it inferred;
graphs that break a rule are refused with the node, the attribute and the problem named."""

import random
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_examples import random_model
from torch_reference import run_graph

from deepzip.compressed import CompressedModel
from deepzip.graph import Graph, GraphInput, Node, chain
from deepzip.graph.legacy import graph_from_v1
from deepzip.graph.shapes import NodeError, check_graph, parameter_lookup

CONV = {"stride": (1, 1), "pads": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}


@pytest.mark.parametrize("seed", range(60))
def test_accepted_graphs_run_in_torch_with_the_inferred_shapes(seed):
    model = random_model(random.Random(seed))
    inferred = check_graph(model.network, model.parameter_shape)
    values = run_graph(model.network, model, batch=2)
    for name, value in values.items():
        info = inferred[name]
        if info is None:
            continue
        assert tuple(value.shape) == tuple(2 if d is None else d for d in info.shape), name
        assert str(value.dtype).removeprefix("torch.") == info.dtype, name


def test_random_models_cover_most_ops():
    seen = set()
    for seed in range(60):
        seen |= {node.op for node in random_model(random.Random(seed)).network.nodes}
    assert len(seen) >= 35, sorted(seen)


def lookup(**shapes):
    return parameter_lookup({}, {k.replace("__", "."): v for k, v in shapes.items()})


def refused(graph, parameters, match, attribute=None, index=None):
    with pytest.raises(NodeError, match=match) as info:
        check_graph(graph, parameters)
    if attribute is not None:
        assert info.value.attribute == attribute
    if index is not None:
        assert info.value.index == index
    return info.value


def conv(attrs=None, shape=(1, 5, 5), weight=(2, 1, 3, 3)):
    graph = chain([("conv2d", "c", CONV | (attrs or {}))], shape)
    return graph, lookup(c__weight=weight)


@pytest.mark.parametrize(
    ("attrs", "weight", "match", "attribute"),
    [
        ({"stride": (0, 1)}, (2, 1, 3, 3), "stride must be >= 1", "attrs.stride"),
        ({"stride": (1,)}, (2, 1, 3, 3), "stride must have 2 values", "attrs.stride"),
        ({"dilation": (1, 0)}, (2, 1, 3, 3), "dilation must be >= 1", "attrs.dilation"),
        ({"pads": (0, 0, -1, 0)}, (2, 1, 3, 3), "pads must be >= 0", "attrs.pads"),
        ({"groups": 0}, (2, 1, 3, 3), "groups must be >= 1", "attrs.groups"),
        ({"groups": 3}, (2, 1, 3, 3), "groups 3 does not divide the 2 output", "attrs.groups"),
        ({"groups": 2}, (2, 1, 3, 3), "expects 2 input channels", "inputs"),
        ({}, (2, 1, 7, 3), "output size comes out", "inputs"),
        ({}, (2, 1, 3), "must have 4 dimensions", "layer"),
    ],
)
def test_conv_parameters(attrs, weight, match, attribute):
    graph, parameters = conv(attrs, weight=weight)
    error = refused(graph, parameters, match, attribute, 0)
    assert "node 0 (conv2d 'c')" in str(error)


def test_conv_without_its_weight():
    graph, _ = conv()
    refused(graph, lookup(), r"needs 'c.weight'", "layer")


def test_version_1_graphs_check_parameters_but_not_shapes():
    ops = [("conv2d", "c", (1, 1, 0, 0, 1, 1, 1)), ("flatten", None, (1, -1)),
           ("linear", "fc", ())]  # fmt: skip
    parameters = lookup(c__weight=(2, 1, 3, 3), fc__weight=(3, 1000))
    values = check_graph(graph_from_v1(ops), parameters)  # 1000 features: unknown input size
    assert all(v is None for v in values.values())
    bad = graph_from_v1([("conv2d", "c", (0, 1, 0, 0, 1, 1, 1))])
    refused(bad, parameters, "stride must be >= 1", "attrs.stride")


def test_downstream_of_an_unsupported_op_shapes_are_skipped_but_parameters_checked():
    nodes = (
        Node("unsupported", ("x",), ("u",), None, {"target": "aten.foo", "module": "m"}),
        Node("linear", ("u",), ("y",), "fc", {}),
        Node("max_pool2d", ("y",), ("z",), None,
             {"kernel": (2, 2), "stride": (0, 1), "padding": (0, 0), "dilation": (1, 1),
              "ceil_mode": False}),
    )  # fmt: skip
    graph = Graph((GraphInput("x", "float32", (3,)),), nodes, ("z",))
    refused(graph, lookup(fc__weight=(2, 99)), "stride must be >= 1", "attrs.stride", 2)
    refused(graph, lookup(), "needs 'fc.weight'", "layer", 1)


def test_linear_features_and_broadcasting():
    graph = chain([("linear", "fc", {})], (4,))
    refused(graph, lookup(fc__weight=(3, 5)), "expects 5 input features", "inputs")
    refused(graph, lookup(fc__weight=(3, 4), fc__bias=(4,)), r"bias shape \(4,\)", "layer")
    add = Graph(
        (GraphInput("a", "float32", (3, 4)), GraphInput("b", "float32", (2, 4))),
        (Node("add", ("a", "b"), ("c",), None, {"scalar": 0.0}),),
        ("c",),
    )
    refused(add, lookup(), "cannot broadcast", "inputs")


def test_batch_dimension_is_never_reduced_selected_or_flattened():
    for op, attrs in [("softmax", {"dim": 0}), ("flatten", {"start_dim": 0, "end_dim": -1}),
                      ("select", {"dim": 0, "index": 0}), ("squeeze", {"dim": 0}),
                      ("cat", {"dim": 0}), ("mean", {"dims": (0,), "keepdim": False}),
                      ("permute", {"dims": (1, 0)})]:  # fmt: skip
        refused(chain([(op, None, attrs)], (3,)), lookup(), "batch", f"attrs.{next(iter(attrs))}")
    refused(chain([("softmax", None, {"dim": -2})], (3,)), lookup(), "batch dimension")
    transposed = chain([("transpose", None, {"dim0": 0, "dim1": 1}), ("reshape", None,
                        {"shape": (-1,)})], (3,))  # fmt: skip
    refused(transposed, lookup(), "batch dimension first", "inputs", 1)


def test_vocabularies_and_ranges():
    refused(chain([("gelu", None, {"approximate": "fast"})], (3,)), lookup(), "approximate")
    upsample = {"mode": "bicubic", "size": (2, 2), "scales": (0.0, 0.0), "align_corners": False}
    refused(chain([("upsample", None, upsample)], (1, 2, 2)), lookup(), "mode")
    refused(chain([("slice", None, {"dim": 1, "start": 0, "end": 2, "step": 0})], (3,)),
            lookup(), "step must be >= 1")  # fmt: skip
    refused(chain([("select", None, {"dim": 1, "index": 3})], (3,)), lookup(), "out of range")
    refused(chain([("reshape", None, {"shape": (-1, -1)})], (4,)), lookup(), "more than one")
    refused(chain([("reshape", None, {"shape": (3,)})], (4,)), lookup(), "cannot reshape")
    refused(chain([("relu", None, {})], (0,)), lookup(), "dimensions must be >= 1")


def test_embedding_needs_int64_and_lstm_needs_every_weight():
    refused(chain([("embedding", "e", {})], (3,)), lookup(e__weight=(5, 2)), "int64")
    attrs = {"hidden_size": 2, "num_layers": 2, "bidirectional": True, "batch_first": True,
             "has_biases": True}  # fmt: skip
    graph = Graph((GraphInput("x", "float32", (4, 3)),),
                  (Node("lstm", ("x",), ("o", "h", "c"), "rnn", attrs),), ("o",))  # fmt: skip
    shapes = {}
    for k in range(2):
        for s in ("", "_reverse"):
            shapes |= {f"rnn.weight_ih_l{k}{s}": (8, 3 if k == 0 else 4),
                       f"rnn.weight_hh_l{k}{s}": (8, 2), f"rnn.bias_ih_l{k}{s}": (8,),
                       f"rnn.bias_hh_l{k}{s}": (8,)}  # fmt: skip
    values = check_graph(graph, parameter_lookup({}, shapes))
    assert values["o"].shape == (None, 4, 4) and values["h"].shape == (4, None, 2)
    missing = {k: v for k, v in shapes.items() if k != "rnn.bias_hh_l1_reverse"}
    refused(graph, parameter_lookup({}, missing), "bias_hh_l1_reverse", "layer")
    wrong = shapes | {"rnn.weight_ih_l1": (8, 3)}
    refused(graph, parameter_lookup({}, wrong), r"weight_ih_l1 must have shape \(8, 4\)")
    refused(graph, parameter_lookup({}, shapes | {"rnn.weight_ih_l2": (8, 4)}), "weight_ih_l2")


def test_max_unpool2d_needs_the_indices_of_a_max_pool2d():
    pool = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "dilation": (1, 1),
            "ceil_mode": False}  # fmt: skip
    nodes = (Node("max_pool2d", ("x",), ("p", "i"), None, pool),
             Node("max_unpool2d", ("p", "i"), ("u",), None, {"output_size": (4, 4)}))  # fmt: skip
    graph = Graph((GraphInput("x", "float32", (1, 4, 4)),), nodes, ("u",))
    assert check_graph(graph, lookup())["u"].shape == (None, 1, 4, 4)
    small = (nodes[0], Node("max_unpool2d", ("p", "i"), ("u",), None, {"output_size": (2, 2)}))
    refused(Graph(graph.inputs, small, ("u",)), lookup(), "cannot hold", "attrs.output_size")
    fake = (nodes[0], Node("max_unpool2d", ("p", "p"), ("u",), None, {"output_size": (4, 4)}))
    refused(Graph(graph.inputs, fake, ("u",)), lookup(), "second output of a max_pool2d")


def test_compressed_layer_bias_lookup():
    """The contract's rule: a compressed layer's own bias, else the tensor <layer>.bias."""
    shape = parameter_lookup({"fc": ((3, 4), True), "g": ((2, 4), False)}, {"g.bias": (2,)})
    assert shape("fc", "weight") == (3, 4) and shape("fc", "bias") == (3,)
    assert shape("g", "bias") == (2,) and shape("h", "weight") is None


def test_compressed_model_parameter_shape_and_check():
    model = random_model(random.Random(5))
    model.check_network()
    for layer in model.layers:
        assert model.parameter_shape(layer.name, "weight") == layer.weight_shape
    broken = CompressedModel(
        [], chain([("linear", "fc", {})], (2,)), {"fc.weight": np.zeros((1, 3), np.float32)}
    )
    with pytest.raises(ValueError, match="expects 3 input features"):
        broken.check_network()


def test_sizes_and_inferred_dimensions_stay_within_the_format_limit():
    """Found by the fuzz harness: a stride of 2**40 or an output size of 2**31 read back from a
    file, and torch then failed or tried to allocate terabytes."""
    refused(*conv({"stride": (2**40, 1)}), r"stride must be <= 2147483647", "attrs.stride", 0)
    pool = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "dilation": (1, 1),
            "ceil_mode": False}  # fmt: skip
    huge = {"output_size": (2**31, 7)}
    nodes = (Node("max_pool2d", ("x",), ("p", "i"), None, pool),
             Node("max_unpool2d", ("p", "i"), ("u",), None, huge))  # fmt: skip
    graph = Graph((GraphInput("x", "float32", (1, 4, 4)),), nodes, ("u",))
    refused(graph, lookup(), "output_size must be <= 2147483647", "attrs.output_size", 1)
    # every attribute within the limit, the output not: a dilated transposed convolution
    deconv = {"stride": (1, 1), "padding": (0, 0), "output_padding": (0, 0),
              "dilation": (1, 2**31 - 1), "groups": 1}  # fmt: skip
    graph = chain([("conv_transpose2d", "d", deconv)], (1, 3, 3))
    refused(graph, lookup(d__weight=(1, 1, 3, 3)), r"a dimension above 2147483647", None, 0)
