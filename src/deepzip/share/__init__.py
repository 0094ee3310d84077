"""Trained quantization by weight sharing (Deep Compression §3)."""

from deepzip.share.quantize import (
    QuantizeConfig,
    capped_layers,
    compressed_layers,
    round_values,
    share_layer,
    share_weights,
)
from deepzip.share.shared_weights import SharedWeights, attach_shared, get_shared

__all__ = [
    "QuantizeConfig",
    "SharedWeights",
    "attach_shared",
    "capped_layers",
    "compressed_layers",
    "get_shared",
    "round_values",
    "share_layer",
    "share_weights",
]
