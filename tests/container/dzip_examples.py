"""Example CompressedModels for the container tests, the golden files and the size budget.

``python tests/container/dzip_examples.py`` rewrites the version-2 golden files in ``golden/``;
do that only when the format's version changes, since the files pin the format. The version-1
golden files (``GOLDEN_V1``) were written by the version-1 writer and stay as they are: the reader
must keep reading them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from deepzip.compressed import CompressedLayer, CompressedModel, round_to_half
from deepzip.graph import Graph, GraphInput, Node, chain
from deepzip.graph.legacy import graph_from_v1

GOLDEN = Path(__file__).resolve().parent / "golden"


def synthetic_layer(
    name: str,
    kind: str,
    shape: tuple[int, ...],
    density: float,
    weight_bits: int,
    index_bits: int,
    rng: np.random.Generator,
    *,
    bias: bool = True,
    metadata: dict | None = None,
) -> CompressedLayer:
    """A layer with ``round(density * size)`` kept weights at random positions, whose codes
    follow a bell shape over 1 .. 2**weight_bits - 1 like k-means clusters of trained weights."""
    size = int(np.prod(shape))
    n_codes = 2**weight_bits
    mask = np.zeros(size, dtype=bool)
    mask[rng.choice(size, size=round(density * size), replace=False)] = True
    codes = np.zeros(size, dtype=np.uint8 if weight_bits <= 8 else np.uint16)
    centre, spread = n_codes / 2, max(n_codes / 6, 1.0)
    kept = np.clip(np.rint(rng.normal(centre, spread, mask.sum())), 1, n_codes - 1)
    codes[mask] = kept.astype(codes.dtype)
    codebook = np.concatenate([[0.0], np.sort(rng.normal(0, 0.1, n_codes - 1))]).astype(np.float32)
    return CompressedLayer(
        name=name,
        kind=kind,
        codebook=codebook,
        codes=codes.reshape(shape),
        mask=mask.reshape(shape),
        bias=rng.normal(0, 0.1, shape[0]).astype(np.float32) if bias else None,
        weight_bits=weight_bits,
        index_bits=index_bits,
        metadata=metadata or {},
    )


CONV_METADATA = {"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1}
CONV = {"stride": (1, 1), "pads": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
POOL = {
    "kernel": (2, 2),
    "stride": (2, 2),
    "padding": (0, 0),
    "dilation": (1, 1),
    "ceil_mode": False,
}
FLATTEN = {"start_dim": 1, "end_dim": -1}


def lenet_300_100(seed: int = 0) -> CompressedModel:
    """LeNet-300-100 as compressed in Deep Compression Table 2: 8%, 9%, 26% of the weights kept,
    6-bit cluster codes, 5-bit relative indices."""
    rng = np.random.default_rng(seed)
    layers = [
        synthetic_layer("fc1", "linear", (300, 784), 0.08, 6, 5, rng),
        synthetic_layer("fc2", "linear", (100, 300), 0.09, 6, 5, rng),
        synthetic_layer("fc3", "linear", (10, 100), 0.26, 6, 5, rng),
    ]
    network = chain(
        [
            ("flatten", None, FLATTEN),
            ("linear", "fc1", {}),
            ("relu", None, {}),
            ("linear", "fc2", {}),
            ("relu", None, {}),
            ("linear", "fc3", {}),
        ],
        (1, 28, 28),
    )
    return CompressedModel(layers, network)


def lenet5(seed: int = 0) -> CompressedModel:
    """LeNet-5 as compressed in Deep Compression Table 3: 66%, 12%, 8%, 19% kept, 8-bit codes for
    the convolutions and 5-bit for the fully connected layers, 5-bit relative indices."""
    rng = np.random.default_rng(seed)
    layers = [
        synthetic_layer("conv1", "conv2d", (20, 1, 5, 5), 0.66, 8, 5, rng, metadata=CONV_METADATA),
        synthetic_layer("conv2", "conv2d", (50, 20, 5, 5), 0.12, 8, 5, rng, metadata=CONV_METADATA),
        synthetic_layer("fc1", "linear", (500, 800), 0.08, 5, 5, rng),
        synthetic_layer("fc2", "linear", (10, 500), 0.19, 5, 5, rng),
    ]
    network = chain(
        [
            ("conv2d", "conv1", CONV),
            ("max_pool2d", None, POOL),
            ("conv2d", "conv2", CONV),
            ("max_pool2d", None, POOL),
            ("flatten", None, FLATTEN),
            ("linear", "fc1", {}),
            ("relu", None, {}),
            ("linear", "fc2", {}),
        ],
        (1, 28, 28),
    )
    return CompressedModel(layers, network)


def worked_example() -> CompressedModel:
    """The tiny layer of docs/FORMAT.md's worked example: a 6x2 linear weight, 2-bit codes, 2-bit
    relative indices, one filler zero, one empty column, a bias, no network, no tensors."""
    codes = np.array([[1, 0], [0, 0], [0, 0], [0, 0], [0, 0], [2, 0]], dtype=np.uint8)
    layer = CompressedLayer(
        name="fc",
        kind="linear",
        codebook=np.array([0.0, -1.0, 2.0], dtype=np.float32),
        codes=codes,
        mask=codes != 0,
        bias=np.array([0.5, 0, 0, 0, 0, -0.5], dtype=np.float32),
        weight_bits=2,
        index_bits=2,
    )
    return CompressedModel([layer])


def _pattern_layer(
    name: str,
    kind: str,
    shape: tuple[int, ...],
    percent_kept: int,
    weight_bits: int,
    index_bits: int,
    codebook_size: int,
    *,
    bias: bool,
    metadata: dict | None = None,
    value_bits: int = 32,
) -> CompressedLayer:
    """A layer from integer arithmetic alone (no random generator), so that the golden files'
    expected models cannot drift with numpy's generators. Positions come from a multiplicative
    hash, codes from a skewed pattern, so the Huffman codes have several lengths."""
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    mask = (i * 2654435761 + 12345) % 1000 < 10 * percent_kept
    codes = 1 + ((i * 7919) % 97) ** 2 % 61 % (codebook_size - 1)
    dtype = np.uint8 if weight_bits <= 8 else np.uint16
    codebook = np.linspace(-1.0, 1.0, codebook_size).astype(np.float32)
    codebook[0] = 0.0
    biases = np.linspace(-0.5, 0.25, shape[0]).astype(np.float32) if bias else None
    if value_bits == 16:
        codebook = round_to_half(codebook)
        biases = None if biases is None else round_to_half(biases)
    return CompressedLayer(
        name=name,
        kind=kind,
        codebook=codebook,
        codes=np.where(mask, codes, 0).astype(dtype).reshape(shape),
        mask=mask.reshape(shape),
        bias=biases,
        weight_bits=weight_bits,
        index_bits=index_bits,
        metadata=metadata or {},
        value_bits=value_bits,
    )


def small_convnet() -> CompressedModel:
    """A conv layer with metadata, a network of every version-1 op kind, and an uncompressed
    head kept as plain tensors (the version-1 golden file; its network reads as a graph)."""
    conv = _pattern_layer(
        "features.0", "conv2d", (4, 1, 3, 3), 50, 3, 3, 8, bias=True, metadata=CONV_METADATA
    )
    fc = _pattern_layer("classifier.1", "linear", (5, 16), 30, 4, 2, 16, bias=False)
    network = graph_from_v1(
        [
            ("conv2d", "features.0", (1, 1, 0, 0, 1, 1, 1)),
            ("relu", None, ()),
            ("maxpool2d", None, (2, 2, 2, 2, 0, 0)),
            ("avgpool2d", None, (1, 1, 1, 1, 0, 0)),
            ("flatten", None, (1, -1)),
            ("dropout", None, ()),
            ("linear", "classifier.1", ()),
            ("linear", "head", ()),
        ]
    )
    tensors = {
        "head.weight": np.linspace(-2.0, 2.0, 15).astype(np.float32).reshape(3, 5),
        "head.bias": np.array([1.0, -2.0, np.inf], dtype=np.float32),
    }
    return CompressedModel([conv, fc], network, tensors)


def wide_codes() -> CompressedModel:
    """uint16 codes (10-bit, 300-entry codebook), an all-pruned layer, 8-bit and 1-bit relative
    indices, an empty network (version 1: no ops; as a graph, its input is its output)."""
    wide = _pattern_layer("wide", "linear", (40, 30), 20, 10, 8, 300, bias=True)
    empty = _pattern_layer("empty", "conv2d", (3, 2, 2, 2), 0, 2, 1, 4, bias=False)
    return CompressedModel([wide, empty], graph_from_v1([]))


def half_values() -> CompressedModel:
    """Codebooks and biases stored as float16 (layer flag bit 2), one layer with a bias and one
    without, beside a float32 layer."""
    fc1 = _pattern_layer("fc1", "linear", (30, 20), 10, 6, 5, 64, bias=True, value_bits=16)
    fc2 = _pattern_layer("fc2", "linear", (10, 30), 30, 5, 5, 32, bias=False, value_bits=16)
    fc3 = _pattern_layer("fc3", "linear", (4, 10), 50, 3, 3, 8, bias=True)
    return CompressedModel([fc1, fc2, fc3])


def graph_example() -> CompressedModel:
    """The network of docs/FORMAT.md's second worked example: conv2d -> relu -> max_pool2d ->
    flatten -> linear on a 1x3x3 input, both layers compressed (2 weights of a 2x2 kernel kept,
    the linear layer's 2x1 weight whole)."""
    conv_codes = np.array([[[[1, 0], [0, 1]]]], dtype=np.uint8)
    conv = CompressedLayer(
        "conv", "conv2d", np.array([0.0, 0.5], np.float32), conv_codes, conv_codes != 0,
        np.array([-1.0], np.float32), 1, 2,
    )  # fmt: skip
    fc_codes = np.array([[1], [2]], dtype=np.uint8)
    fc = CompressedLayer(
        "fc", "linear", np.array([0.0, 1.0, -1.0], np.float32), fc_codes, fc_codes != 0, None, 2, 1
    )
    network = chain(
        [
            ("conv2d", "conv", CONV),
            ("relu", None, {}),
            ("max_pool2d", None, POOL),
            ("flatten", None, FLATTEN),
            ("linear", "fc", {}),
        ],
        (1, 3, 3),
    )
    return CompressedModel([conv, fc], network)


def graph_branches() -> CompressedModel:
    """A graph beyond a chain: two inputs, a residual add, cat, a max_pool2d with indices that
    max_unpool2d uses, a layer-norm without parameters, float16 values, an unsupported op with two
    outputs and two graph outputs; parameters as compressed layers and as plain tensors."""
    conv = _pattern_layer("block.conv", "conv2d", (4, 4, 3, 3), 40, 4, 3, 16, bias=True,
                          value_bits=16)  # fmt: skip
    head = _pattern_layer("head", "linear", (3, 8), 60, 3, 2, 8, bias=False)
    tensors = {
        "head.bias": np.array([0.5, -0.25, 1.0], np.float32),
        "scale": np.full((4, 1, 1), 0.5, np.float32),
    }
    conv_attrs = {"stride": (1, 1), "pads": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
    nodes = (
        Node("conv2d", ("x",), ("c",), "block.conv", conv_attrs),
        Node("mul", ("c", "s"), ("cs",), None, {"scalar": 0.0}),
        Node("add", ("cs", "x"), ("r",), None, {"scalar": 0.0}),
        Node("max_pool2d", ("r",), ("p", "i"), None, POOL),
        Node("max_unpool2d", ("p", "i"), ("u",), None, {"output_size": (4, 4)}),
        Node("layer_norm", ("u",), ("n",), None, {"normalized_shape": (4, 4), "eps": 0.5}),
        Node("adaptive_avg_pool2d", ("n",), ("a",), None, {"output_size": (1, 1)}),
        Node("flatten", ("a",), ("f",), None, FLATTEN),
        Node("cat", ("f", "y"), ("fy",), None, {"dim": 1}),
        Node("linear", ("fy",), ("o",), "head", {}),
        Node("unsupported", ("o",), ("w", "z"), None,
             {"target": "aten.grid_sampler_2d.default", "module": "warp"}),
    )  # fmt: skip
    constant = (Node("constant", (), ("s",), "scale", {}),)
    graph = Graph(
        (GraphInput("x", "float32", (4, 4, 4)), GraphInput("y", "float32", (4,))),
        constant + nodes,
        ("o", "z"),
    )
    return CompressedModel([conv, head], graph, tensors)


GOLDEN_V1 = {
    "worked_example.dzip": worked_example,
    "small_convnet.dzip": small_convnet,
    "wide_codes.dzip": wide_codes,
    "half_values.dzip": half_values,
}
"""Files of the version-1 writer: they must read as these models (networks become graphs)."""

GOLDEN_MODELS = {
    "worked_example_v2.dzip": worked_example,
    "graph_example_v2.dzip": graph_example,
    "graph_branches_v2.dzip": graph_branches,
    "small_convnet_v2.dzip": small_convnet,
}
"""Files of the current writer: read back equal, and the writer reproduces them byte for byte."""


def assert_models_equal(got: CompressedModel, want: CompressedModel) -> None:
    """Field by field, dtypes and bit patterns included."""
    assert [layer.name for layer in got.layers] == [layer.name for layer in want.layers]
    for a, b in zip(got.layers, want.layers):
        assert (a.kind, a.weight_bits, a.index_bits, a.value_bits) == (
            b.kind,
            b.weight_bits,
            b.index_bits,
            b.value_bits,
        )
        assert a.metadata == b.metadata
        for field in ("codebook", "codes", "mask"):
            x, y = getattr(a, field), getattr(b, field)
            assert x.dtype == y.dtype and x.shape == y.shape, field
            assert x.tobytes() == y.tobytes(), field
        assert (a.bias is None) == (b.bias is None)
        if a.bias is not None:
            assert a.bias.dtype == np.float32 and a.bias.tobytes() == b.bias.tobytes()
    # A graph read back names its values v0, v1, ... (Graph.canonical)
    assert got.network == (None if want.network is None else want.network.canonical())
    assert list(got.tensors) == list(want.tensors)
    for name, tensor in want.tensors.items():
        other = got.tensors[name]
        assert other.dtype == np.float32 and other.shape == tensor.shape, name
        assert other.tobytes() == tensor.astype(np.float32).tobytes(), name


def write_golden_files() -> None:
    from deepzip.container import write_dzip

    GOLDEN.mkdir(exist_ok=True)
    assert not set(GOLDEN_MODELS) & set(GOLDEN_V1), "version-1 files are never rewritten"
    for filename, build in GOLDEN_MODELS.items():
        size = write_dzip(GOLDEN / filename, build())
        print(f"{filename}: {size} bytes")


if __name__ == "__main__":
    sys.exit(write_golden_files())


def with_network(model: CompressedModel, raw) -> bytes:
    """``model``'s file with its network record replaced by the encoding of ``raw`` (a
    ``RawNetwork``, possibly broken), file size and checksum repaired: what the rejection tests
    and the fuzz harness hand the reader."""
    from deepzip.container import dzip_bytes, dzip_sizes
    from deepzip.container.layout import seal
    from deepzip.container.network import network_bytes

    data = dzip_bytes(model)
    sizes = dzip_sizes(data)
    start = sizes.header_bytes + sum(layer.total_bytes for layer in sizes.layers)
    return seal(data[:start] + network_bytes(raw) + data[start + sizes.network_bytes : -8])
