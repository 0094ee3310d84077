"""Example CompressedModels for the container tests, the golden files and the size budget.

``python tests/container/dzip_examples.py`` rewrites the golden files in ``golden/``; do that
only when the format's version changes, since the files pin the format.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from deepzip.compressed import CompressedLayer, CompressedModel, NetworkOp, round_to_half

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


def lenet_300_100(seed: int = 0) -> CompressedModel:
    """LeNet-300-100 as compressed in Deep Compression Table 2: 8%, 9%, 26% of the weights kept,
    6-bit cluster codes, 5-bit relative indices."""
    rng = np.random.default_rng(seed)
    layers = [
        synthetic_layer("fc1", "linear", (300, 784), 0.08, 6, 5, rng),
        synthetic_layer("fc2", "linear", (100, 300), 0.09, 6, 5, rng),
        synthetic_layer("fc3", "linear", (10, 100), 0.26, 6, 5, rng),
    ]
    network = [
        NetworkOp("flatten", None, (1, -1)),
        NetworkOp("linear", "fc1"),
        NetworkOp("relu"),
        NetworkOp("linear", "fc2"),
        NetworkOp("relu"),
        NetworkOp("linear", "fc3"),
    ]
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
    pool = (2, 2, 2, 2, 0, 0)
    network = [
        NetworkOp("conv2d", "conv1", (1, 1, 0, 0, 1, 1, 1)),
        NetworkOp("maxpool2d", None, pool),
        NetworkOp("conv2d", "conv2", (1, 1, 0, 0, 1, 1, 1)),
        NetworkOp("maxpool2d", None, pool),
        NetworkOp("flatten", None, (1, -1)),
        NetworkOp("linear", "fc1"),
        NetworkOp("relu"),
        NetworkOp("linear", "fc2"),
    ]
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
    """A conv layer with metadata, a network of every op kind, and an uncompressed head kept as
    plain tensors."""
    conv = _pattern_layer(
        "features.0", "conv2d", (4, 1, 3, 3), 50, 3, 3, 8, bias=True, metadata=CONV_METADATA
    )
    fc = _pattern_layer("classifier.1", "linear", (5, 16), 30, 4, 2, 16, bias=False)
    network = [
        NetworkOp("conv2d", "features.0", (1, 1, 0, 0, 1, 1, 1)),
        NetworkOp("relu"),
        NetworkOp("maxpool2d", None, (2, 2, 2, 2, 0, 0)),
        NetworkOp("avgpool2d", None, (1, 1, 1, 1, 0, 0)),
        NetworkOp("flatten", None, (1, -1)),
        NetworkOp("dropout"),
        NetworkOp("linear", "classifier.1"),
        NetworkOp("linear", "head"),
    ]
    tensors = {
        "head.weight": np.linspace(-2.0, 2.0, 15).astype(np.float32).reshape(3, 5),
        "head.bias": np.array([1.0, -2.0, np.inf], dtype=np.float32),
    }
    return CompressedModel([conv, fc], network, tensors)


def wide_codes() -> CompressedModel:
    """uint16 codes (10-bit, 300-entry codebook), an all-pruned layer, 8-bit and 1-bit relative
    indices, an empty network."""
    wide = _pattern_layer("wide", "linear", (40, 30), 20, 10, 8, 300, bias=True)
    empty = _pattern_layer("empty", "conv2d", (3, 2, 2, 2), 0, 2, 1, 4, bias=False)
    return CompressedModel([wide, empty], [])


def half_values() -> CompressedModel:
    """Codebooks and biases stored as float16 (layer flag bit 2), one layer with a bias and one
    without, beside a float32 layer."""
    fc1 = _pattern_layer("fc1", "linear", (30, 20), 10, 6, 5, 64, bias=True, value_bits=16)
    fc2 = _pattern_layer("fc2", "linear", (10, 30), 30, 5, 5, 32, bias=False, value_bits=16)
    fc3 = _pattern_layer("fc3", "linear", (4, 10), 50, 3, 3, 8, bias=True)
    return CompressedModel([fc1, fc2, fc3])


GOLDEN_MODELS = {
    "worked_example.dzip": worked_example,
    "small_convnet.dzip": small_convnet,
    "wide_codes.dzip": wide_codes,
    "half_values.dzip": half_values,
}


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
    assert got.network == want.network
    assert list(got.tensors) == list(want.tensors)
    for name, tensor in want.tensors.items():
        other = got.tensors[name]
        assert other.dtype == np.float32 and other.shape == tensor.shape, name
        assert other.tobytes() == tensor.astype(np.float32).tobytes(), name


def write_golden_files() -> None:
    from deepzip.container import write_dzip

    GOLDEN.mkdir(exist_ok=True)
    for filename, build in GOLDEN_MODELS.items():
        size = write_dzip(GOLDEN / filename, build())
        print(f"{filename}: {size} bytes")


if __name__ == "__main__":
    sys.exit(write_golden_files())
