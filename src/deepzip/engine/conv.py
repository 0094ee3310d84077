"""Direct convolutions over compressed layers, without im2col: sparse and depthwise.

MobileNet-style networks spend their time in 1x1 convolutions and in depthwise 3x3s (Howard et
al. 2017). im2col (``weights``) turns a convolution into a product of its matrix with the input's
patches, which copies the input ``kh * kw`` times (and for a 1x1 convolution only copies it), and
splits a depthwise convolution into one tiny product per channel. Here they run directly
(kernels and the phase layout in ``_conv_kernels``):

- ``sparse_conv``: any convolution with whole input channels per group (a group is one layout, as
  in ``weights``): the sparse ``(out, C * kh * kw)`` matrix times, per column, one contiguous run
  of the input's zero-padded phases. For a 1x1 convolution (stride taken by subsampling, padding
  by zero-padding, first) the run is the channel's ``H * W`` map as it lies, positions
  contiguous: sparse weights x dense activation map without copies, as in Elsen et al. 2020
  ("Fast Sparse ConvNets"); a map of more than ``ROW_KERNEL_POSITIONS`` positions runs row by
  row (``conv_rows_float32``), a smaller one column by column (``conv_float32``);
- ``depthwise_conv``: one input channel per group (``multiplier`` output channels each), from
  one layout of the whole ``(C_out, kh * kw)`` matrix (or a plain weight): each PE owns whole
  channels and runs only their kept taps, directly on the input planes.

Stride, asymmetric pads (top, left, bottom, right) and dilation everywhere. Threads as in
``product``: a small convolution runs on the calling thread.

``conv_reference`` and ``depthwise_reference`` are the slow float64 versions the tests compare
against: the decoded weight (``product.decode_columns_reference``) and numpy slices of the
zero-padded input, tap by tap.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from deepzip.engine import _conv_kernels, _depthwise_kernels
from deepzip.engine.layout import EngineLayer
from deepzip.engine.parameters import DenseMatrix
from deepzip.engine.product import (
    _bias,
    _gaps,
    _numba_threads,
    decode_columns_reference,
    threads_for_work,
)
from deepzip.engine.spatial import conv_output_size, pad_trailing

ACCUMULATOR_VALUES = 65_536
"""Values of a PE's accumulator in the sparse kernel (256 KiB of float32, in L2):
``block_rows x tile``. The tile is about this over the PE's rows, so that a block is usually all
of them."""

ROW_KERNEL_POSITIONS = 128
"""Positions above which ``sparse_conv`` runs the row kernel (``conv_rows_float32``: its entries
regrouped by row, the accumulator in L1, eight entries per load and store of it) rather than the
column kernel (``conv_float32``: two entries per load and store of an accumulator in L2). The
regrouping costs about as much per entry as the update of two vector blocks of positions: on
small maps (7x7, 9x9, 10x10) the two kernels took about the same time, from 12x12 on the row
kernel was faster."""

ROW_TILE = 1024
"""At most this many positions per tile of the row kernel (4 KiB of accumulator)."""


def _output_size(x: np.ndarray, kernel, stride, pads, dilation) -> tuple[int, int]:
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, left, bottom, right = pads
    if min(kh, kw, sh, sw, dh, dw) < 1 or min(pads) < 0:
        raise ValueError(
            f"bad kernel {kernel}, stride {stride}, dilation {dilation} or pads {pads}"
        )
    height, width = x.shape[2:]
    oh = conv_output_size(height, kh, sh, top + bottom, dh)
    ow = conv_output_size(width, kw, sw, left + right, dw)
    if oh < 1 or ow < 1:
        raise ValueError(
            f"a {kh}x{kw} convolution (dilation {dh}x{dw}) does not fit a {height}x{width} input"
        )
    return oh, ow


def _check_maps(x: np.ndarray, channels: int) -> np.ndarray:
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"needs inputs (N, {channels}, H, W), got shape {x.shape}")
    if x.dtype != np.float32:
        raise ValueError(f"needs float32 inputs, got {x.dtype}")
    return np.ascontiguousarray(x)


def accumulator_shape(local_rows: int, positions: int) -> tuple[int, int]:
    """``(tile, block_rows)`` of the sparse kernel for a PE of ``local_rows`` rows: the positions
    split into as few tiles as ``ACCUMULATOR_VALUES`` over the rows allows, each a multiple of the
    kernel's vector block and as narrow as covers them (the last tile's padding is computed
    too); then as many rows per block as ``ACCUMULATOR_VALUES`` holds (at least one)."""
    tile = _tile(positions, ACCUMULATOR_VALUES // max(local_rows, 1))
    return tile, max(1, min(local_rows, ACCUMULATOR_VALUES // tile))


def row_tile(positions: int) -> int:
    """The row kernel's tile: the positions split into as few tiles of at most ``ROW_TILE`` as
    possible, each a multiple of the kernel's vector block and as narrow as covers them."""
    return _tile(positions, ROW_TILE)


def _tile(positions: int, widest: int) -> int:
    """The positions split into as few tiles of at most ``widest`` values (at least one vector
    block) as possible, each a multiple of the kernels' vector block and as narrow as covers
    them: the tile's width."""
    block = _conv_kernels.BLOCK
    blocks = -(-positions // block)
    tiles = -(-blocks // max(1, widest // block))
    return -(-blocks // tiles) * block


@lru_cache(maxsize=1024)
def _plan(kernel, stride, dilation, in_size, out_size, channels, padded):
    """What a sparse convolution's shape fixes, computed once per shape: ``(direct, hq, wq,
    length, sources)``: whether the input is its own (only) phase, the phases' size, the values
    per channel, and where each column of the matrix (channel ``c``, tap ``t``: column
    ``c * kh * kw + t``) starts reading in the flattened phases (int64, read-only)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    hq, wq, _, offsets = _conv_kernels.plane_geometry(kh, kw, sh, sw, dh, dw, *out_size)
    direct = (sh, sw) == (1, 1) and not padded and in_size == (hq, wq)
    length = in_size[0] * in_size[1] if direct else sh * sw * hq * wq
    sources = (np.arange(channels)[:, None] * length + offsets[None, :]).ravel()
    size = (out_size[0] - 1) * wq + out_size[1]
    if sources.size and sources.max() + size > channels * length:
        raise AssertionError("a column's run would pass the end of the phases")
    sources.flags.writeable = False
    return direct, hq, wq, length, sources


def phases(x: np.ndarray, stride, pads, hq: int, wq: int) -> np.ndarray:
    """Each channel's zero-padded plane split into its ``sh * sw`` phases of ``(hq, wq)``
    (``_conv_kernels``), float32 ``(N, C, sh * sw * hq * wq)``. Phase ``(a, b)``'s ``(u, v)`` is
    the padded input's ``(u * sh + a, v * sw + b)``, the input's ``(u * sh + a - top, v * sw + b
    - left)``: each phase takes one strided slice of the input, the rest stays zero."""
    (sh, sw), (top, left, _, _) = stride, pads
    batch, channels, height, width = x.shape
    out = np.zeros((batch, channels, sh, sw, hq, wq), dtype=np.float32)
    for a in range(sh):
        u0 = max(0, -(-(top - a) // sh))  # the first phase row that lies in the input
        first_row = u0 * sh + a - top
        rows = min(hq - u0, len(range(first_row, height, sh)))
        for b in range(sw):
            v0 = max(0, -(-(left - b) // sw))
            first_col = v0 * sw + b - left
            cols = min(wq - v0, len(range(first_col, width, sw)))
            if rows > 0 and cols > 0:
                out[:, :, a, b, u0 : u0 + rows, v0 : v0 + cols] = x[
                    :, :, first_row : first_row + (rows - 1) * sh + 1 : sh,
                    first_col : first_col + (cols - 1) * sw + 1 : sw,
                ]  # fmt: skip
    return out.reshape(batch, channels, -1)


def pointwise_input(x: np.ndarray, stride, pads) -> np.ndarray:
    """What a 1x1 convolution with ``stride`` and ``pads`` (top, left, bottom, right) reads of
    ``x`` ``(N, C, H, W)``: the zero-padded input subsampled, so that it runs at stride 1 without
    padding (``x`` itself when there is neither)."""
    if tuple(stride) == (1, 1) and not any(pads):
        return x
    top, left, bottom, right = pads
    padded = pad_trailing(x, ((top, bottom), (left, right)))
    return np.ascontiguousarray(padded[:, :, :: stride[0], :: stride[1]])


def sparse_conv(
    layers: list[EngineLayer],
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
    dilation: tuple[int, int] = (1, 1),
    relu: bool = False,
    threads: int | None = None,
) -> np.ndarray:
    """``act(conv(x) + bias)`` for float32 ``x`` ``(N, C, H, W)``: one layer per group, each the
    ``(out / groups, C / groups * kh * kw)`` matrix view; returns float32 ``(N, out, OH, OW)``."""
    kernel, stride, pads, dilation = tuple(kernel), tuple(stride), tuple(pads), tuple(dilation)
    kh, kw = kernel
    cols = layers[0].shape[1]
    if any(layer.shape != layers[0].shape for layer in layers):
        raise ValueError("the groups' layers must have the same shape")
    if cols % (kh * kw):
        raise ValueError(f"{cols} columns are not whole {kh}x{kw} input channels")
    x = _check_maps(x, cols // (kh * kw) * len(layers))
    out_h, out_w = _output_size(x, kernel, stride, pads, dilation)
    if kernel == (1, 1):
        x = pointwise_input(x, stride, pads)
        stride, pads = (1, 1), (0, 0, 0, 0)
    batch, channels = x.shape[:2]
    direct, hq, wq, length, sources = _plan(
        kernel, stride, dilation, x.shape[2:], (out_h, out_w), channels, any(pads)
    )
    planes = x if direct else phases(x, stride, pads, hq, wq)
    size = (out_h - 1) * wq + out_w  # positions computed, wq apart per output row
    rows = layers[0].shape[0]
    y = np.empty((batch, rows * len(layers), out_h * wq), dtype=np.float32)
    flat = planes.reshape(batch, channels * length)
    for g, layer in enumerate(layers):
        if size > ROW_KERNEL_POSITIONS:
            kernel_call, tiling = _conv_kernels.conv_rows_float32, (row_tile(size),)
        else:
            kernel_call = _conv_kernels.conv_float32
            tiling = accumulator_shape(layer.local_rows, size)
        with _numba_threads(threads_for_work(layer.pes, layer.n_entries * size * batch, threads)):
            kernel_call(
                layer.entries, _gaps(layer), layer.code_mask, layer.gap_shift, layer.col_ptr,
                layer.codebook, _bias(layer, np.float32), relu, rows, flat,
                sources[g * cols : (g + 1) * cols], size, y, g * rows, *tiling,
            )  # fmt: skip
    y = y.reshape(batch, -1, out_h, wq)
    return y if wq == out_w else np.ascontiguousarray(y[..., :out_w])


def depthwise_conv(
    part: EngineLayer | DenseMatrix,
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
    dilation: tuple[int, int] = (1, 1),
    relu: bool = False,
    threads: int | None = None,
) -> np.ndarray:
    """Depthwise ``act(conv(x) + bias)``: ``part`` is the ``(C_out, kh * kw)`` matrix (a layout
    or a plain weight) of a convolution with ``groups == C_in``, ``x`` float32 ``(N, C_in, H, W)``,
    ``pads`` (top, left, bottom, right); returns float32 ``(N, C_out, OH, OW)``."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, left = pads[:2]
    out_channels, taps = part.shape
    if taps != kh * kw:
        raise ValueError(f"a {kh}x{kw} depthwise weight has {kh * kw} columns, got {taps}")
    if x.ndim != 4 or x.shape[1] < 1 or out_channels % x.shape[1]:
        raise ValueError(f"{out_channels} depthwise channels do not read inputs of {x.shape}")
    x = _check_maps(x, x.shape[1])
    out_h, out_w = _output_size(x, kernel, stride, pads, dilation)
    batch, channels = x.shape[:2]
    y = np.empty((batch, out_channels, out_h, out_w), dtype=np.float32)
    geometry = (out_channels // channels, kh, kw, sh, sw, top, left, dh, dw)
    work = batch * out_h * out_w
    if isinstance(part, DenseMatrix):
        bias = np.zeros(0, np.float32) if part.bias is None else part.bias
        with _numba_threads(threads_for_work(out_channels, part.weight.size * work, threads)):
            _depthwise_kernels.depthwise_dense_float32(part.weight, bias, relu, x, *geometry, y)
        return y
    with _numba_threads(threads_for_work(part.pes, part.n_entries * work, threads)):
        _depthwise_kernels.depthwise_float32(
            part.entries, _gaps(part), part.code_mask, part.gap_shift, part.col_ptr,
            part.codebook, _bias(part, np.float32), relu, x, *geometry, y,
        )  # fmt: skip
    return y


# ---------------------------------------------------------------------------------------------
# Slow references
# ---------------------------------------------------------------------------------------------


def _decoded(part: EngineLayer | DenseMatrix) -> tuple[np.ndarray, np.ndarray | None]:
    """The float64 matrix and the bias of a layout (decoded slowly) or a plain weight."""
    if isinstance(part, DenseMatrix):
        return part.weight.astype(np.float64), part.bias
    return decode_columns_reference(part, np.arange(part.shape[1])), part.bias


def _windows(x: np.ndarray, kernel, stride, pads, dilation):
    """Yield ``(i, j, window)``: the zero-padded input's values that tap ``(i, j)`` meets,
    float64 ``(N, C, OH, OW)``."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, left, bottom, right = pads
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = conv_output_size(x.shape[2], kh, sh, 0, dh)
    ow = conv_output_size(x.shape[3], kw, sw, 0, dw)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
            yield i, j, x[:, :, rows, j * dw : j * dw + (ow - 1) * sw + 1 : sw]


def conv_reference(
    layers: list[EngineLayer | DenseMatrix],
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
    dilation: tuple[int, int] = (1, 1),
    relu: bool = False,
) -> np.ndarray:
    """Slow float64 ``sparse_conv``: per group, the decoded weight ``(out, C, kh, kw)``, tap by
    tap over the zero-padded input."""
    kh, kw = kernel
    outputs = []
    channels = layers[0].shape[1] // (kh * kw)
    for g, part in enumerate(layers):
        matrix, bias = _decoded(part)
        weight = matrix.reshape(matrix.shape[0], channels, kh, kw)
        block = x[:, g * channels : (g + 1) * channels]
        y = 0.0
        for i, j, window in _windows(block, kernel, stride, pads, dilation):
            y = y + np.einsum("oc,nchw->nohw", weight[:, :, i, j], window)
        if bias is not None:
            y = y + bias.astype(np.float64)[None, :, None, None]
        outputs.append(y)
    y = np.concatenate(outputs, axis=1)
    return np.maximum(y, 0.0) if relu else y


def depthwise_reference(
    part: EngineLayer | DenseMatrix,
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
    dilation: tuple[int, int] = (1, 1),
    relu: bool = False,
) -> np.ndarray:
    """Slow float64 ``depthwise_conv``: the decoded ``(C_out, kh * kw)`` weight, tap by tap over
    the zero-padded input; output channel ``c`` reads input channel ``c // multiplier``."""
    kw = kernel[1]
    weight, bias = _decoded(part)
    multiplier = weight.shape[0] // x.shape[1]
    y = 0.0
    for i, j, window in _windows(x, kernel, stride, pads, dilation):
        y = y + weight[None, :, i * kw + j, None, None] * np.repeat(window, multiplier, axis=1)
    if bias is not None:
        y = y + bias.astype(np.float64)[None, :, None, None]
    return np.maximum(y, 0.0) if relu else y
