"""Trained quantization by weight sharing (Deep Compression §3.1–3.2).

Per layer, a 1-D k-means over the surviving (non-zero) weights only, into a codebook of 2^b
shared weights whose first entry is the exact zero (EIE's codebook: pruned weights and filler
zeros point at it), so the survivors form 2^b − 1 clusters. b = 8 for convolutions and 5 for
the other kinds (fully connected, embedding, LSTM) by default, as in the paper's AlexNet
experiments, overridable per layer; linear initialisation by default. A layer with few kept weights
gets fewer bits (see ``QuantizeConfig.weights_per_cluster``): 230 kept weights in 255 clusters
share nothing, and their codebook costs more than it saves. Every compressible parameter of the
registry (``deepzip.kinds``) is its own layer with its own codebook: each of an ``nn.LSTM``'s
``weight_ih_l*`` / ``weight_hh_l*``, both directions. The layer then computes its weight from the
centroids through :class:`SharedWeights`, and fine-tuning the centroids is ordinary training.
``compressed_layers`` hands the result over as :class:`CompressedLayer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from deepzip.compressed import MAX_WEIGHT_BITS, VALUE_BITS, CompressedLayer, round_to_half
from deepzip.core.kmeans import InitMethod, init_centroids, kmeans_1d
from deepzip.kinds import KINDS
from deepzip.layers import CompressibleWeight, select_weights
from deepzip.prune.mask import effective_weight, get_mask, to_numpy
from deepzip.share.shared_weights import SharedWeights, attach_shared, get_shared


@dataclass(frozen=True)
class QuantizeConfig:
    """Bit widths and k-means settings.

    Attributes:
        conv_bits / fc_bits: cluster-index bits for the convolution kinds (conv1d, conv2d,
            conv_transpose2d) and for the others (linear, embedding, lstm).
        bits: per-layer overrides by compressed layer name (``"fc1"``, ``"rnn.weight_hh_l0"``).
        init: k-means initialisation: ``"linear"`` (default), ``"density"`` or ``"random"``.
        index_bits: bits per relative-index gap in the sparse encoding (recorded for the encoder).
        layer_index_bits: per-layer overrides of ``index_bits`` (a very sparse layer wants wider
            gaps, or it fills up with filler zeros).
        auto_index_bits: give each layer the index width (1 to 8 bits) that makes its record
            in the file smallest (``deepzip.container.writer.smallest_index_bits``), measured
            by encoding it at every width; ``layer_index_bits`` still decides for the layers it
            names. The network computed is the same at every width (applied after ``sort_units``, by
            ``deepzip.network.to_compressed_model``).
        max_iter: Lloyd iterations at most.
        seed: for random initialisation.
        relocate_empty: move clusters that end up empty to the worst-fitted weights (True, as
            scikit-learn does), or leave them empty (False, plain Lloyd's as in Deep Compression:
            fewer codes in use, lower code entropy, a coarser fit). Unused clusters are dropped
            from the codebook either way.
        value_bits: 32, or 16 to round the centroids and the biases to float16 (see
            ``round_values``); the file then stores them in half the bytes.
        sort_units: store the hidden units sorted by their number of kept weights
            (``deepzip.reorder.sort_units``): the same network in fewer index bytes, with its
            hidden units in another order than the PyTorch model's.
        weights_per_cluster: cap a layer's clusters at one per this many kept weights, rounded
            to the nearest power of two (a layer with 330 kept weights asked for 8 bits gets
            6); 0 turns the cap off. ``capped_bits`` gives the bits a layer gets.
        exact: layers stored without sharing error: every surviving weight value is its own
            centroid (rounded to float16 with ``value_bits=16``, like every centroid), with the
            fewest bits that give each one a code (at most ``MAX_WEIGHT_BITS``: 4,095 kept
            weights; more are refused). For small, sensitive layers such as a depthwise
            convolution's 3×3 filters, where a per-layer codebook cannot serve channels of
            very different scales.
    """

    conv_bits: int = 8
    fc_bits: int = 5
    bits: dict[str, int] = field(default_factory=dict)
    init: InitMethod = "linear"
    index_bits: int = 5
    layer_index_bits: dict[str, int] = field(default_factory=dict)
    auto_index_bits: bool = False
    max_iter: int = 300
    seed: int = 0
    relocate_empty: bool = True
    value_bits: int = 32
    sort_units: bool = False
    weights_per_cluster: int = 4
    exact: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, b in {"conv_bits": self.conv_bits, "fc_bits": self.fc_bits, **self.bits}.items():
            if not 1 <= b <= MAX_WEIGHT_BITS:
                raise ValueError(f"bits for {name} must be in 1..{MAX_WEIGHT_BITS}, got {b}")
        if self.init not in ("linear", "density", "random"):
            raise ValueError(f"init must be linear, density or random, got {self.init!r}")
        for name, b in {"index_bits": self.index_bits, **self.layer_index_bits}.items():
            if not 1 <= b <= 8:
                raise ValueError(f"index bits for {name} must be in 1..8, got {b}")
        if self.weights_per_cluster < 0:
            raise ValueError(f"weights_per_cluster must be >= 0, got {self.weights_per_cluster}")
        if self.value_bits not in VALUE_BITS:
            raise ValueError(f"value_bits must be one of {VALUE_BITS}, got {self.value_bits}")

    def bits_for(self, name: str, kind: str) -> int:
        """The bits asked for the layer ``name`` of layer kind ``kind`` (before the cap of
        ``capped_bits``)."""
        if name in self.bits:
            return self.bits[name]
        return self.conv_bits if kind in _CONV_KINDS else self.fc_bits

    def capped_bits(self, name: str, kind: str, kept: int) -> int:
        """The bits this layer gets with ``kept`` surviving weights: those asked, capped so that
        there is about one cluster per ``weights_per_cluster`` kept weights (a power of two)."""
        if name in self.exact:
            if kept > 2**MAX_WEIGHT_BITS - 1:
                raise ValueError(
                    f"layer {name} is to be stored exactly, but it keeps {kept:,} weights: a "
                    f"codebook holds at most {2**MAX_WEIGHT_BITS - 1:,} (prune it, or share it)"
                )
            return max(1, math.ceil(math.log2(kept + 1)))
        bits = self.bits_for(name, kind)
        if self.weights_per_cluster == 0 or kept == 0:
            return bits
        cap = round(math.log2(max(kept / self.weights_per_cluster, 2.0)))
        return min(bits, max(1, cap))


def capped_layers(model: nn.Module, config: QuantizeConfig) -> dict[str, tuple[int, int]]:
    """The weight-shared layers that got fewer bits than asked: name → (asked, used)."""
    capped = {}
    for name, target in select_weights(model).items():
        shared = get_shared(target.module, target.param)
        if shared is None:
            continue
        asked = config.bits_for(name, target.kind)
        used = config.capped_bits(name, target.kind, int(shared.mask.sum()))
        if used < asked:
            capped[name] = (asked, used)
    return capped


_CONV_KINDS = ("conv1d", "conv2d", "conv_transpose2d")


def share_layer(
    module: nn.Module, bits: int, config: QuantizeConfig, param: str = "weight"
) -> None:
    """Cluster one parameter's surviving weights and attach the shared-weight parametrization.

    Code 0 is the exact zero, as in EIE's codebook: pruned weights and the sparse format's filler
    zeros use it, so the surviving weights share the other ``2**bits - 1`` codes.
    """
    weight = effective_weight(module, param)
    mask_t = get_mask(module, param)
    mask = to_numpy(mask_t) if mask_t is not None else np.ones(weight.shape, dtype=bool)
    values = weight[mask]
    codes = np.zeros(weight.shape, dtype=np.int32)
    centroids = np.zeros(1)
    if values.size and values.size <= 2**bits - 1:
        # A code for every weight: each distinct value is its own centroid, k-means' exact
        # optimum (no sharing error).
        distinct, labels = np.unique(values, return_inverse=True)
        centroids = np.concatenate([[0.0], distinct])
        codes[mask] = labels.reshape(-1).astype(np.int32) + 1
    elif values.size:
        k = 2**bits - 1
        init = init_centroids(values, k, config.init, seed=config.seed)
        result = kmeans_1d(values, init, max_iter=config.max_iter, relocate=config.relocate_empty)
        # Only the clusters in use, in centroid order: code 1 + their rank.
        used, labels = np.unique(result.labels, return_inverse=True)
        centroids = np.concatenate([[0.0], result.centroids[used]])
        codes[mask] = labels.reshape(-1).astype(np.int32) + 1
    attach_shared(module, centroids, codes, mask, param)


def share_weights(
    model: nn.Module, config: QuantizeConfig | None = None, layers: list[str] | None = None
) -> None:
    """Quantize every compressible layer (or the named ones) by weight sharing, in place."""
    config = config or QuantizeConfig()
    for name, target in select_weights(model, layers).items():
        mask = get_mask(target.module, target.param)
        kept = int(mask.sum()) if mask is not None else target.weight.numel()
        bits = config.capped_bits(name, target.kind, kept)
        share_layer(target.module, bits, config, target.param)
    round_values(model, config)


@torch.no_grad()
def round_values(model: nn.Module, config: QuantizeConfig) -> None:
    """With ``value_bits=16``, round every weight-shared layer's centroids and bias to float16
    values, in place (they stay float32 tensors), so that the model is exactly what the file
    stores. Call it after training the centroids; with 32 bits it does nothing."""
    if config.value_bits == 32:
        return
    for target in select_weights(model).values():
        shared = get_shared(target.module, target.param)
        if shared is None:
            continue
        tensors = [shared.centroids]
        bias = _bias(target)
        if bias is not None:
            tensors.append(bias)
        for tensor in tensors:
            tensor.copy_(torch.from_numpy(round_to_half(to_numpy(tensor))).to(tensor.device))


def _bias(target: CompressibleWeight) -> torch.Tensor | None:
    """The bias the compressed layer carries (``kinds``' ``has_bias``), or None."""
    if not KINDS[target.kind].has_bias:
        return None
    return getattr(target.module, "bias", None)


def _codebook(shared: SharedWeights) -> np.ndarray:
    codebook = to_numpy(shared.centroids).astype(np.float32)
    codebook[0] = 0.0  # the zero code; training cannot move it (it gets no gradient), but be exact
    return codebook


def compressed_layers(
    model: nn.Module, config: QuantizeConfig | None = None
) -> list[CompressedLayer]:
    """The weight-shared layers of ``model`` as CompressedLayer records, in module order."""
    config = config or QuantizeConfig()
    out = []
    for name, target in select_weights(model).items():
        shared = get_shared(target.module, target.param)
        if shared is None:
            continue
        bits = config.capped_bits(name, target.kind, int(shared.mask.sum()))
        bias = _bias(target)
        # Codes in the weight's own shape; the layer stores them over its kind's matrix view.
        layer = CompressedLayer.from_codes(
            name=name,
            kind=target.kind,
            codebook=_codebook(shared),
            codes=to_numpy(shared.codes).astype(np.uint8 if bits <= 8 else np.uint16),
            mask=to_numpy(shared.mask),
            bias=None if bias is None else to_numpy(bias).astype(np.float32),
            weight_bits=bits,
            index_bits=config.layer_index_bits.get(name, config.index_bits),
            value_bits=config.value_bits,
        )
        out.append(layer)
    return out
