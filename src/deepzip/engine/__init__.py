"""EIE-style inference straight from compressed layers (Han et al. 2016, "EIE: Efficient
Inference Engine on Compressed Deep Neural Network").

- ``EngineLayer``: a compressed layer's rows interleaved over processing elements, each with its
  own CSC entries (code and relative index in one byte for 4-bit widths) and column pointers.
- ``sparse_matvec`` / ``sparse_matmul``: numba kernels that visit only non-zero activations and
  stored entries, decode weights through the codebook and fuse bias and ReLU; ``_fixed16``
  variants in EIE's 16-bit fixed point.
- ``decode_columns``: the stored weights of chosen columns only (an embedding lookup).
- ``sparse_conv`` / ``depthwise_conv``: convolutions straight from the layouts without im2col
  (a 1x1 convolution is the sparse matrix times the activation map as it lies), with their slow
  references ``conv_reference`` / ``depthwise_reference``.
- ``Engine``: runs a whole stored network graph (``Engine.load(path)`` for a .dzip file): weight
  ops through the compressed layers (``weights``, ``lstm``), every other op in numpy (``ops``).
"""

from deepzip.engine.conv import conv_reference, depthwise_conv, depthwise_reference, sparse_conv
from deepzip.engine.layout import EngineLayer, default_pes
from deepzip.engine.product import (
    decode_columns,
    decode_columns_reference,
    sparse_matmul,
    sparse_matmul_fixed16,
    sparse_matvec,
    sparse_matvec_fixed16,
    sparse_product_fixed16_reference,
    sparse_product_reference,
)
from deepzip.engine.runner import ARITHMETICS, FIXED16_OPS, Engine, LayerMemory

__all__ = [
    "ARITHMETICS",
    "FIXED16_OPS",
    "Engine",
    "EngineLayer",
    "LayerMemory",
    "conv_reference",
    "decode_columns",
    "decode_columns_reference",
    "default_pes",
    "depthwise_conv",
    "depthwise_reference",
    "sparse_conv",
    "sparse_matmul",
    "sparse_matmul_fixed16",
    "sparse_matvec",
    "sparse_matvec_fixed16",
    "sparse_product_fixed16_reference",
    "sparse_product_reference",
]
