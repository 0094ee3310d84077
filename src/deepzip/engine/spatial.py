"""Convolution patches (im2col), their scatter back (col2im) and upsampling, in numpy.

A convolution runs as a matrix product over the compressed weights (EIE §III runs fully connected
layers; a convolution becomes one by im2col): the input ``(N, C, H, W)`` is unfolded into the
patches ``(C * kh * kw, N * OH * OW)``, whose rows are ordered ``(channel, kh, kw)``, the column
order of the conv weight's matrix view ``(out, in * kh * kw)`` (``deepzip.kinds``), and whose
columns are ordered ``(sample, oh, ow)``. The product ``(out, N * OH * OW)`` is then the output.

A transposed convolution runs the other way round: its matrix view ``(out * kh * kw, in)`` times
the input ``(in, N * H * W)`` gives every input position's contribution to a ``kh x kw`` window
of the output, which ``col2im`` adds up (torch's ``conv_transpose2d``: stride, padding,
output_padding, dilation).

``upsample`` follows torch's ``interpolate`` index formulas exactly (``nearest``:
``floor(dst * scale)``; ``bilinear``: the source index with and without ``align_corners``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad_trailing(x: np.ndarray, pairs, fill=0) -> np.ndarray:
    """``x`` padded with ``fill`` on its last ``len(pairs)`` axes by ``(before, after)`` pairs
    (``x`` itself when every pad is 0): what ``np.pad`` with a constant does, in one allocation
    and one copy (``np.pad`` costs about 20 µs a call, more than a small layer's product)."""
    pairs = [tuple(int(p) for p in pair) for pair in pairs]
    if any(p < 0 for pair in pairs for p in pair):
        raise ValueError(f"pads must be >= 0, got {pairs}")
    if not any(p for pair in pairs for p in pair):
        return x
    k = len(pairs)
    sizes = x.shape[x.ndim - k :]
    out = np.full(
        x.shape[: x.ndim - k] + tuple(n + b + a for n, (b, a) in zip(sizes, pairs, strict=True)),
        fill,
        dtype=x.dtype,
    )
    inner = tuple(slice(b, b + n) for n, (b, _) in zip(sizes, pairs, strict=True))
    out[(..., *inner)] = x
    return out


def conv_output_size(size: int, kernel: int, stride: int, pads: int, dilation: int) -> int:
    """Output length of a convolution over ``size`` with ``pads`` (before + after) padding."""
    return (size + pads - dilation * (kernel - 1) - 1) // stride + 1


def im2col(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[int, int, int, int],
    dilation: tuple[int, int],
) -> tuple[np.ndarray, tuple[int, int]]:
    """Patches of ``x`` ``(N, C, H, W)`` with ``pads`` (top, left, bottom, right):
    ``((C * kh * kw, N * OH * OW), (OH, OW))``."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, left, bottom, right = pads
    batch, channels, height, width = x.shape
    oh = conv_output_size(height, kh, sh, top + bottom, dh)
    ow = conv_output_size(width, kw, sw, left + right, dw)
    if oh < 1 or ow < 1:
        raise ValueError(
            f"a {kh}x{kw} convolution (dilation {dh}x{dw}) does not fit a {height}x{width} input"
        )
    x = pad_trailing(x, ((top, bottom), (left, right)))
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    windows = sliding_window_view(x, span, axis=(2, 3))  # (N, C, H', W', span_h, span_w)
    windows = windows[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, ::dh, ::dw]
    patches = windows.transpose(1, 4, 5, 0, 2, 3)  # (C, kh, kw, N, OH, OW)
    return np.ascontiguousarray(patches).reshape(channels * kh * kw, batch * oh * ow), (oh, ow)


def transposed_output_size(
    size: int, kernel: int, stride: int, padding: int, output_padding: int, dilation: int
) -> int:
    """torch's ``conv_transpose2d`` output length."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def col2im(
    columns: np.ndarray,
    batch: int,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    output_padding: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """Add up the windows ``columns`` ``(C * kh * kw, N * H * W)`` (rows ``(channel, kh, kw)``,
    columns ``(sample, h, w)``) into the transposed convolution's output ``(N, C, OH, OW)``."""
    (height, width), (kh, kw), (sh, sw) = size, kernel, stride
    (ph, pw), (oph, opw), (dh, dw) = padding, output_padding, dilation
    oh = transposed_output_size(height, kh, sh, ph, oph, dh)
    ow = transposed_output_size(width, kw, sw, pw, opw, dw)
    if oh < 1 or ow < 1:
        raise ValueError(f"a transposed convolution of a {height}x{width} input has no output")
    channels = columns.shape[0] // (kh * kw)
    windows = columns.reshape(channels, kh, kw, batch, height, width)
    full_h = (height - 1) * sh + dh * (kh - 1) + 1
    full_w = (width - 1) * sw + dw * (kw - 1) + 1
    out = np.zeros(
        (batch, channels, max(full_h, ph + oh), max(full_w, pw + ow)), dtype=columns.dtype
    )
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (height - 1) * sh + 1, sh)
            cols = slice(j * dw, j * dw + (width - 1) * sw + 1, sw)
            out[:, :, rows, cols] += windows[:, i, j].transpose(1, 0, 2, 3)
    return out[:, :, ph : ph + oh, pw : pw + ow]


def _source_scale(in_size: int, out_size: int, scale: float, align_corners: bool) -> np.float32:
    """torch's ``area_pixel_compute_scale`` (and ``compute_scales_value``), in float32."""
    if align_corners:
        return np.float32((in_size - 1) / (out_size - 1)) if out_size > 1 else np.float32(0.0)
    if scale > 0:
        return np.float32(1.0 / scale)
    return np.float32(in_size) / np.float32(out_size)


def _nearest_index(in_size: int, out_size: int, scale: float) -> np.ndarray:
    ratio = _source_scale(in_size, out_size, scale, False)
    source = np.floor(np.arange(out_size, dtype=np.float32) * ratio).astype(np.int64)
    return np.minimum(source, in_size - 1)


def _linear_weights(
    in_size: int, out_size: int, scale: float, align_corners: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(i0, i1, lambda0, lambda1)`` for each output index (torch's bilinear source index)."""
    ratio = _source_scale(in_size, out_size, scale, align_corners)
    dst = np.arange(out_size, dtype=np.float32)
    if align_corners:
        source = ratio * dst
    else:
        source = np.maximum(ratio * (dst + np.float32(0.5)) - np.float32(0.5), np.float32(0.0))
    i0 = source.astype(np.int64)  # truncation, as torch's (int64_t) cast of a value >= 0
    i1 = i0 + (i0 < in_size - 1)
    lambda1 = (source - i0).astype(np.float32)
    return i0, i1, np.float32(1.0) - lambda1, lambda1


def upsample(
    x: np.ndarray,
    mode: str,
    size: tuple[int, int],
    scales: tuple[float, float],
    align_corners: bool,
) -> np.ndarray:
    """torch's ``interpolate`` of ``x`` ``(N, C, H, W)`` to ``size`` (``nearest`` or
    ``bilinear``); ``scales`` are the scale factors, 0.0 where taken from the sizes."""
    height, width = x.shape[-2:]
    out_h, out_w = size
    if mode == "nearest":
        if align_corners:
            raise ValueError("upsample: align_corners is only for bilinear")
        rows = _nearest_index(height, out_h, scales[0])
        cols = _nearest_index(width, out_w, scales[1])
        return x[..., rows[:, None], cols[None, :]]
    if mode != "bilinear":
        raise ValueError(f"upsample mode {mode!r} is not one of ('nearest', 'bilinear')")
    h0, h1, a0, a1 = _linear_weights(height, out_h, scales[0], align_corners)
    w0, w1, b0, b1 = _linear_weights(width, out_w, scales[1], align_corners)
    top = x[..., h0, :] * a0[:, None] + x[..., h1, :] * a1[:, None]  # (..., out_h, W)
    return (top[..., w0] * b0 + top[..., w1] * b1).astype(x.dtype)
