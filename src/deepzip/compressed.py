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

LAYER_KINDS = ("linear", "conv2d")


@dataclass(frozen=True, eq=False)
class CompressedLayer:
    """One pruned, weight-shared layer.

    Attributes:
        name: fully-qualified module name in the model (``"features.0"``).
        kind: ``"linear"`` (weight ``(out, in)``) or ``"conv2d"`` (``(out, in, kh, kw)``).
        codebook: float32, at most ``2**weight_bits`` entries: 0.0, then the shared weights
            (centroids).
        codes: uint8 or uint16, the weight's shape: codebook index of each weight (0 = pruned).
        mask: bool, the weight's shape: True where the connection survived pruning.
        bias: float32 ``(out,)`` or None.
        weight_bits: bits per cluster index (the codebook has at most ``2**weight_bits`` entries).
        index_bits: bits per relative index gap in the sparse encoding (Deep Compression §2).
        metadata: layer settings needed to run it (conv stride, padding, ...); JSON-serialisable.
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

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"layer {self.name!r}: kind {self.kind!r} is not one of {LAYER_KINDS}")
        if not 1 <= self.weight_bits <= 16:
            raise ValueError(f"layer {self.name!r}: weight_bits {self.weight_bits} not in 1..16")
        if not 1 <= self.index_bits <= 16:
            raise ValueError(f"layer {self.name!r}: index_bits {self.index_bits} not in 1..16")
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
        expected_ndim = 2 if self.kind == "linear" else 4
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
        if self.bias is not None and self.bias.shape != (self.codes.shape[0],):
            raise ValueError(
                f"layer {self.name!r}: bias shape {self.bias.shape} != ({self.codes.shape[0]},)"
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

    def dense_weight(self) -> np.ndarray:
        """The dequantized weight, float32 of ``weight_shape``: ``codebook[codes]``."""
        return self.codebook[self.codes]
