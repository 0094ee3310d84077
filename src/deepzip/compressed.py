"""The compressed layer: the one data structure that crosses deepzip's layers (DESIGN.md).

The training side (pruning, Han et al. 2015, and trained quantization, Deep Compression §3) hands
each compressed layer over in this form; the container stores it, the engine and the simulator
consume it. It is pure numpy and knows nothing of torch or files.

A weight is ``codebook[codes]``, where ``codes`` holds a codebook index for every position of the
weight tensor. Code 0 is reserved for the exact zero, as in EIE's codebook: ``codebook[0] == 0.0``,
pruned positions have code 0 and surviving ones a code >= 1, so ``mask == (codes != 0)``; the
sparse format's filler zeros use code 0 too. A layer stores only its kept weights, in CSC order
over the weight's matrix view (EIE §III-B); the relative index of Deep Compression §2 (gaps with
filler zeros) is derived from that, and the dense ``codes`` and ``mask`` are computed on demand.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepzip.core.relative_index import check_csc
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


_CODE_DTYPES = (np.uint8, np.uint16)


@dataclass(frozen=True, eq=False, init=False)
class CompressedLayer:
    """One pruned, weight-shared layer, stored as what it keeps.

    The kept weights of the weight's matrix view (``deepzip.kinds``: rows = outputs, one column =
    the weights one input value meets) are held in CSC order, column by column, top to bottom, as
    EIE stores them (§III-B): ``col_ptr``, ``kept_rows`` and ``kept_codes``. Memory therefore grows
    with the kept weights and the columns, not with the dense shape; the dense ``codes`` and
    ``mask`` are views computed when asked (for the torch side, ``decompress`` and tests).

    Build one from the sparse arrays with ``from_csc`` or from dense arrays with ``from_codes``
    (or the positional/keyword form ``CompressedLayer(name, kind, codebook, codes, mask, bias,
    weight_bits, index_bits, ...)``, which is ``from_codes``).

    Attributes:
        name: the compressed layer's name (``kinds.layer_name``: ``"features.0"``,
            ``"rnn.weight_hh_l0"``).
        kind: a layer kind of ``deepzip.kinds`` (``"linear"``: weight ``(out, in)``; ``"conv2d"``:
            ``(out, in / groups, kh, kw)``; ...), which says how the weight is viewed as a matrix.
        codebook: float32, at most ``2**weight_bits`` entries: 0.0, then the shared weights
            (centroids).
        weight_shape: the weight tensor's shape.
        col_ptr: int64 ``(cols + 1,)``: column ``c`` is entries ``col_ptr[c]:col_ptr[c + 1]``.
        kept_rows: int64 ``(kept,)``: the row of each kept weight, ascending within a column.
        kept_codes: uint8 or uint16 ``(kept,)``: its codebook index, never 0 (code 0 is the exact
            zero, EIE's codebook, used by pruned positions and the file's filler zeros).
        bias: float32 ``(rows,)`` or None (only for kinds whose layer carries its bias).
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
    weight_shape: tuple[int, ...]
    col_ptr: np.ndarray
    kept_rows: np.ndarray
    kept_codes: np.ndarray
    bias: np.ndarray | None
    weight_bits: int
    index_bits: int
    metadata: dict[str, Any] = field(default_factory=dict)
    value_bits: int = 32

    def __init__(
        self,
        name: str,
        kind: str,
        codebook: np.ndarray,
        codes: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        weight_bits: int = 0,
        index_bits: int = 0,
        metadata: dict[str, Any] | None = None,
        value_bits: int = 32,
        *,
        weight_shape: tuple[int, ...] | None = None,
        col_ptr: np.ndarray | None = None,
        kept_rows: np.ndarray | None = None,
        kept_codes: np.ndarray | None = None,
    ) -> None:
        """Dense ``codes`` and ``mask`` (the weight's shape), or the sparse keywords. Dense
        arrays take precedence, so ``dataclasses.replace(layer, codes=..., mask=...)`` works."""
        if codes is not None or mask is not None:
            if codes is None or mask is None:
                raise ValueError(f"layer {name!r}: give both codes and mask")
            weight_shape, col_ptr, kept_rows, kept_codes = _csc_of_dense(name, kind, codes, mask)
        elif weight_shape is None or col_ptr is None or kept_rows is None or kept_codes is None:
            raise ValueError(
                f"layer {name!r}: give codes and mask, or weight_shape, col_ptr, kept_rows "
                "and kept_codes"
            )
        values = {
            "name": name,
            "kind": kind,
            "codebook": codebook,
            "weight_shape": tuple(int(d) for d in weight_shape),
            "col_ptr": col_ptr,
            "kept_rows": kept_rows,
            "kept_codes": kept_codes,
            "bias": bias,
            "weight_bits": weight_bits,
            "index_bits": index_bits,
            "metadata": {} if metadata is None else metadata,
            "value_bits": value_bits,
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)
        self._validate()

    @classmethod
    def from_csc(
        cls,
        name: str,
        kind: str,
        codebook: np.ndarray,
        weight_shape: tuple[int, ...],
        col_ptr: np.ndarray,
        kept_rows: np.ndarray,
        kept_codes: np.ndarray,
        bias: np.ndarray | None,
        weight_bits: int,
        index_bits: int,
        metadata: dict[str, Any] | None = None,
        value_bits: int = 32,
    ) -> CompressedLayer:
        """The layer from the CSC of its matrix view; no dense array is made."""
        return cls(
            name, kind, codebook, None, None, bias, weight_bits, index_bits, metadata,
            value_bits, weight_shape=weight_shape, col_ptr=col_ptr, kept_rows=kept_rows,
            kept_codes=kept_codes,
        )  # fmt: skip

    @classmethod
    def from_codes(
        cls,
        name: str,
        kind: str,
        codebook: np.ndarray,
        codes: np.ndarray,
        mask: np.ndarray,
        bias: np.ndarray | None,
        weight_bits: int,
        index_bits: int,
        metadata: dict[str, Any] | None = None,
        value_bits: int = 32,
    ) -> CompressedLayer:
        """The layer from dense ``codes`` (uint8/uint16) and ``mask`` (bool) of the weight's
        shape; ``codes`` must be 0 exactly where ``mask`` is False."""
        return cls(
            name, kind, codebook, codes, mask, bias, weight_bits, index_bits, metadata, value_bits
        )

    def _validate(self) -> None:
        where = f"layer {self.name!r}"
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"{where}: kind {self.kind!r} is not one of {LAYER_KINDS}")
        if not 1 <= self.weight_bits <= MAX_WEIGHT_BITS:
            raise ValueError(f"{where}: weight_bits {self.weight_bits} not in 1..{MAX_WEIGHT_BITS}")
        if not 1 <= self.index_bits <= 8:
            raise ValueError(f"{where}: index_bits {self.index_bits} not in 1..8")
        if (
            not isinstance(self.codebook, np.ndarray)
            or self.codebook.dtype != np.float32
            or self.codebook.ndim != 1
        ):
            raise ValueError(f"{where}: codebook must be 1-D float32")
        if len(self.codebook) > 2**self.weight_bits:
            raise ValueError(
                f"{where}: codebook has {len(self.codebook)} entries, "
                f"more than 2**weight_bits = {2**self.weight_bits}"
            )
        if len(self.codebook) == 0 or self.codebook[0] != 0.0 or np.signbit(self.codebook[0]):
            raise ValueError(f"{where}: codebook[0] must be 0.0 (the zero code)")
        expected_ndim = layer_kind(self.kind).weight_ndim
        if len(self.weight_shape) != expected_ndim or min(self.weight_shape, default=0) < 0:
            raise ValueError(
                f"{where}: a {self.kind} weight has {expected_ndim} dimensions, "
                f"got shape {self.weight_shape}"
            )
        try:
            check_csc(self.matrix_shape, self.col_ptr, self.kept_rows, self.kept_codes)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if self.kept_codes.size and not np.all(self.kept_codes):
            raise ValueError(f"{where}: a kept weight has code 0, the code of pruned weights")
        if self.kept_codes.size and int(self.kept_codes.max()) >= len(self.codebook):
            raise ValueError(f"{where}: a code points past the codebook")
        if self.bias is not None:
            rows = self.matrix_shape[0]
            if not layer_kind(self.kind).has_bias:
                raise ValueError(f"{where}: a {self.kind} layer keeps its bias apart")
            if self.bias.shape != (rows,):
                raise ValueError(f"{where}: bias shape {self.bias.shape} != ({rows},)")
        if self.value_bits not in VALUE_BITS:
            raise ValueError(f"{where}: value_bits {self.value_bits} not one of {VALUE_BITS}")
        if self.value_bits == 16:
            for what, values in (("codebook", self.codebook), ("bias", self.bias)):
                if values is not None and not np.array_equal(
                    round_to_half(values).view(np.uint32), values.astype(np.float32).view(np.uint32)
                ):
                    raise ValueError(
                        f"{where}: value_bits 16 needs a {what} of float16 values "
                        "(round it with round_to_half)"
                    )

    @property
    def num_weights(self) -> int:
        return math.prod(self.weight_shape)

    @property
    def num_kept(self) -> int:
        """Connections that survived pruning."""
        return int(self.kept_codes.size)

    @property
    def density(self) -> float:
        return self.num_kept / self.num_weights if self.num_weights else 0.0

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the weight's matrix view (``deepzip.kinds``)."""
        return layer_kind(self.kind).matrix_shape(self.weight_shape)

    @property
    def code_dtype(self) -> np.dtype:
        """uint8 or uint16: the dtype of the codes (what the file's uint16 flag records)."""
        return self.kept_codes.dtype

    def csc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kept weights of the matrix view in CSC order: ``col_ptr`` int64 ``(cols + 1,)``,
        ``rows`` int64 ``(kept,)`` (ascending within a column) and their ``codes`` (the codes'
        dtype). What the engine builds its layout from; it never needs the dense codes."""
        return self.col_ptr, self.kept_rows, self.kept_codes

    def kept_cols(self) -> np.ndarray:
        """int64 ``(kept,)``: the column of each kept weight (CSC order)."""
        return np.repeat(np.arange(self.matrix_shape[1], dtype=np.int64), np.diff(self.col_ptr))

    def matrix_codes(self) -> np.ndarray:
        """The codes as the dense ``(rows, cols)`` matrix view (for the torch side and tests)."""
        matrix = np.zeros(self.matrix_shape, dtype=self.kept_codes.dtype)
        matrix[self.kept_rows, self.kept_cols()] = self.kept_codes
        return matrix

    @property
    def codes(self) -> np.ndarray:
        """Dense codes of ``weight_shape`` (0 = pruned), computed on each access."""
        return layer_kind(self.kind).from_matrix(self.matrix_codes(), self.weight_shape)

    @property
    def mask(self) -> np.ndarray:
        """Dense bool mask of ``weight_shape`` (True = kept), computed on each access."""
        return self.codes != 0

    def dense_weight(self) -> np.ndarray:
        """The dequantized weight, float32 of ``weight_shape``: ``codebook[codes]``."""
        return self.codebook[self.codes]


def _csc_of_dense(
    name: str, kind: str, codes: np.ndarray, mask: np.ndarray
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]:
    """``(weight_shape, col_ptr, kept_rows, kept_codes)`` of dense codes and mask, after checking
    what only the dense form can get wrong (shapes, dtypes, codes 0 exactly where pruned)."""
    where = f"layer {name!r}"
    codes, mask = np.asarray(codes), np.asarray(mask)
    if kind not in LAYER_KINDS:
        raise ValueError(f"{where}: kind {kind!r} is not one of {LAYER_KINDS}")
    if codes.shape != mask.shape:
        raise ValueError(f"{where}: codes shape {codes.shape} != mask shape {mask.shape}")
    if mask.dtype != np.bool_:
        raise ValueError(f"{where}: mask must be bool, got {mask.dtype}")
    if codes.dtype not in _CODE_DTYPES:
        raise ValueError(f"{where}: codes must be uint8 or uint16")
    registry = layer_kind(kind)
    if codes.ndim != registry.weight_ndim:
        raise ValueError(
            f"{where}: a {kind} weight has {registry.weight_ndim} dimensions, "
            f"got shape {codes.shape}"
        )
    if not np.array_equal(mask, codes != 0):
        raise ValueError(f"{where}: codes must be 0 exactly where the mask is False")
    matrix = registry.to_matrix(codes)
    cols, rows = np.nonzero(matrix.T)  # column-major order: CSC
    col_ptr = np.zeros(matrix.shape[1] + 1, dtype=np.int64)
    np.cumsum(np.bincount(cols, minlength=matrix.shape[1]), out=col_ptr[1:])
    return codes.shape, col_ptr, rows.astype(np.int64), matrix[rows, cols]


def module_has_parameters(
    module: str,
    layer_names: Collection[str],
    tensor_names: Collection[str],
    parameter_shape: ParameterShape,
) -> bool:
    """Whether some compressed layer or tensor of a model (by name; ``parameter_shape`` its
    lookup rule) belongs to ``module`` or is named so: ``CompressedModel.has_parameters``."""
    if module in tensor_names or module in layer_names:
        return True
    owner, _, param = module.rpartition(".")
    if owner and parameter_shape(owner, param) is not None:
        return True  # a constant naming a compressed layer's weight ("fc.weight")
    prefix = module + "."
    return any(n.startswith(prefix) for n in tensor_names) or any(
        n.startswith(prefix) for n in layer_names
    )


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
        names = [layer.name for layer in self.layers]
        return module_has_parameters(module, names, self.tensors, self._parameter_lookup())

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
