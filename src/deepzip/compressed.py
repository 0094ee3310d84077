"""The compressed layer: the one data structure that crosses deepzip's layers (DESIGN.md).

The training side (pruning, Han et al. 2015, and trained quantization, Deep Compression §3) hands
each compressed layer over in this form; the container stores it, the engine and the simulator
consume it. It is pure numpy and knows nothing of torch or files.

A weight is ``codebook[codes]``: ``codes`` holds a codebook index for every position of the
weight tensor. Code 0 is reserved for the exact zero, as in EIE's codebook: ``codebook[0] == 0.0``,
pruned positions have code 0 and surviving ones a code >= 1, so ``mask == (codes != 0)``; the
sparse format's filler zeros use code 0 too. The sparse encodings of Deep Compression §2 and
EIE §III-B (relative index gaps with filler zeros, per-entry codes in column order) are derived
from ``codes`` and ``mask``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepzip.graph import Graph
from deepzip.graph.shapes import ParameterShape, check_graph, parameter_lookup
from deepzip.kinds import LAYER_KINDS
from deepzip.kinds import kind as layer_kind

#: At most 4096 shared weights per layer (Deep Compression uses 5–8 bits); it bounds the Huffman
#: decoding table a file can ask for.
MAX_WEIGHT_BITS = 12


#: Precisions a layer's codebook and bias may be stored in (float32, or float16 for half the bytes).
VALUE_BITS = (32, 16)


def round_to_half(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to the nearest float16, as float32 (values beyond float16 become inf)."""
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype=np.float32).astype(np.float16).astype(np.float32)


@dataclass(frozen=True, eq=False)
class CompressedLayer:
    """One pruned, weight-shared layer.

    Attributes:
        name: fully-qualified module name in the model (``"features.0"``).
        kind: a layer kind of ``deepzip.kinds`` (``"linear"``: weight ``(out, in)``; ``"conv2d"``:
            ``(out, in / groups, kh, kw)``; ...), which says how the weight is viewed as a matrix.
        codebook: float32, at most ``2**weight_bits`` entries: 0.0, then the shared weights
            (centroids).
        codes: uint8 or uint16, the weight's shape: codebook index of each weight (0 = pruned).
        mask: bool, the weight's shape: True where the connection survived pruning.
        bias: float32 ``(out,)`` or None.
        weight_bits: bits per cluster index (the codebook has at most ``2**weight_bits`` entries).
        index_bits: bits per relative index gap in the sparse encoding (Deep Compression §2).
        metadata: JSON-serialisable extras; the settings that run the layer (conv stride, ...)
            live in the network graph's node, not here.
        value_bits: 32, or 16 when the codebook and bias are stored as float16 (they must then
            hold float16 values exactly: the file loses nothing, see ``round_to_half``).
    """

    name: str
    kind: str
    codebook: np.ndarray
    codes: np.ndarray
    mask: np.ndarray
    bias: np.ndarray | None
    weight_bits: int
    index_bits: int
    metadata: dict[str, Any] = field(default_factory=dict)
    value_bits: int = 32

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"layer {self.name!r}: kind {self.kind!r} is not one of {LAYER_KINDS}")
        if not 1 <= self.weight_bits <= MAX_WEIGHT_BITS:
            raise ValueError(
                f"layer {self.name!r}: weight_bits {self.weight_bits} not in 1..{MAX_WEIGHT_BITS}"
            )
        if not 1 <= self.index_bits <= 8:
            raise ValueError(f"layer {self.name!r}: index_bits {self.index_bits} not in 1..8")
        if self.codebook.dtype != np.float32 or self.codebook.ndim != 1:
            raise ValueError(f"layer {self.name!r}: codebook must be 1-D float32")
        if len(self.codebook) > 2**self.weight_bits:
            raise ValueError(
                f"layer {self.name!r}: codebook has {len(self.codebook)} entries, "
                f"more than 2**weight_bits = {2**self.weight_bits}"
            )
        if self.codes.shape != self.mask.shape:
            raise ValueError(
                f"layer {self.name!r}: codes shape {self.codes.shape} != mask shape "
                f"{self.mask.shape}"
            )
        if self.mask.dtype != np.bool_:
            raise ValueError(f"layer {self.name!r}: mask must be bool, got {self.mask.dtype}")
        if self.codes.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"layer {self.name!r}: codes must be uint8 or uint16")
        expected_ndim = layer_kind(self.kind).weight_ndim
        if self.codes.ndim != expected_ndim:
            raise ValueError(
                f"layer {self.name!r}: a {self.kind} weight has {expected_ndim} dimensions, "
                f"got shape {self.codes.shape}"
            )
        if self.codes.size and int(self.codes.max()) >= len(self.codebook):
            raise ValueError(f"layer {self.name!r}: a code points past the codebook")
        if len(self.codebook) == 0 or self.codebook[0] != 0.0 or np.signbit(self.codebook[0]):
            raise ValueError(f"layer {self.name!r}: codebook[0] must be 0.0 (the zero code)")
        if not np.array_equal(self.mask, self.codes != 0):
            raise ValueError(
                f"layer {self.name!r}: codes must be 0 exactly where the mask is False"
            )
        if self.bias is not None:
            rows = self.matrix_shape[0]
            if not layer_kind(self.kind).has_bias:
                raise ValueError(f"layer {self.name!r}: a {self.kind} layer keeps its bias apart")
            if self.bias.shape != (rows,):
                raise ValueError(f"layer {self.name!r}: bias shape {self.bias.shape} != ({rows},)")
        if self.value_bits not in VALUE_BITS:
            raise ValueError(
                f"layer {self.name!r}: value_bits {self.value_bits} not one of {VALUE_BITS}"
            )
        if self.value_bits == 16:
            for what, values in (("codebook", self.codebook), ("bias", self.bias)):
                if values is not None and not np.array_equal(
                    round_to_half(values).view(np.uint32), values.astype(np.float32).view(np.uint32)
                ):
                    raise ValueError(
                        f"layer {self.name!r}: value_bits 16 needs a {what} of float16 values "
                        "(round it with round_to_half)"
                    )

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return tuple(self.codes.shape)

    @property
    def num_weights(self) -> int:
        return int(self.codes.size)

    @property
    def num_kept(self) -> int:
        """Connections that survived pruning."""
        return int(np.count_nonzero(self.mask))

    @property
    def density(self) -> float:
        return self.num_kept / self.num_weights if self.num_weights else 0.0

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the weight's matrix view (``deepzip.kinds``)."""
        return layer_kind(self.kind).matrix_shape(self.weight_shape)

    def matrix_codes(self) -> np.ndarray:
        """The codes as the ``(rows, cols)`` matrix view (dense; for the torch side and tests)."""
        return layer_kind(self.kind).to_matrix(self.codes)

    def csc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kept weights of the matrix view in CSC order: ``col_ptr`` int64 ``(cols + 1,)``,
        ``rows`` int64 ``(kept,)`` (ascending within a column) and their ``codes`` (the codes'
        dtype). What the engine builds its layout from; it never needs the dense codes."""
        matrix = self.matrix_codes()
        cols, rows = np.nonzero(matrix.T)
        col_ptr = np.zeros(matrix.shape[1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=matrix.shape[1]), out=col_ptr[1:])
        return col_ptr, rows.astype(np.int64), matrix[rows, cols]

    def dense_weight(self) -> np.ndarray:
        """The dequantized weight, float32 of ``weight_shape``: ``codebook[codes]``."""
        return self.codebook[self.codes]


@dataclass(frozen=True, eq=False)
class CompressedModel:
    """What a .dzip file holds: the compressed layers, the network that runs them (a
    ``deepzip.graph.Graph``; None when the model could not be captured), and the remaining float32
    tensors by name (biases and weights of layers left uncompressed, buffers, named as in the
    model's state_dict)."""

    layers: list[CompressedLayer]
    network: Graph | None = None
    tensors: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError("layer names must be unique")
        if self.network is not None:
            for node in self.network.nodes:
                if node.layer is None or node.op == "unsupported":
                    continue
                if not self.has_parameters(node.layer):
                    raise ValueError(
                        f"network op {node.describe()} refers to {node.layer!r}, which the model "
                        "lacks"
                    )

    def has_parameters(self, module: str) -> bool:
        """Whether some compressed layer or tensor belongs to ``module`` (or is named so)."""
        if module in self.tensors or any(layer.name == module for layer in self.layers):
            return True
        owner, _, param = module.rpartition(".")
        if owner and self.parameter_shape(owner, param) is not None:
            return True  # a constant naming a compressed layer's weight ("fc.weight")
        prefix = module + "."
        return any(n.startswith(prefix) for n in self.tensors) or any(
            layer.name.startswith(prefix) for layer in self.layers
        )

    def parameter_shape(self, module: str, param: str) -> tuple[int, ...] | None:
        """The shape of ``module``'s parameter ``param`` by the contract's lookup rule (a
        compressed layer ``kinds.layer_name``, else a plain tensor ``kinds.parameter_name``; a
        compressed layer's bias is its own when set, else the tensor's), or None."""
        return self._parameter_lookup()(module, param)

    def check_network(self) -> None:
        """Raise ``GraphError`` (a ValueError naming the node) unless the network's op
        parameters, the parameters it uses and its shapes agree (``deepzip.graph.shapes``)."""
        if self.network is not None:
            check_graph(self.network, self._parameter_lookup())

    def _parameter_lookup(self) -> ParameterShape:
        layers = {layer.name: (layer.weight_shape, layer.bias is not None) for layer in self.layers}
        tensors = {name: tuple(t.shape) for name, t in self.tensors.items()}
        return parameter_lookup(layers, tensors)

    def layer(self, name: str) -> CompressedLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def dense_bytes(self) -> int:
        """fp32 size of all original weights and biases (compressed layers and plain tensors)."""
        total = sum(layer.num_weights for layer in self.layers)
        total += sum(layer.bias.size for layer in self.layers if layer.bias is not None)
        total += sum(t.size for t in self.tensors.values())
        return 4 * total
