"""Convolution patches (im2col) and pooling in numpy, on the engine's batch-last activations.

The engine keeps a convolution's activations as ``(channels, height, width, batch)``: the batch
last, so that the im2col matrix ``(channels * kh * kw, out_h * out_w * batch)`` is already the
``(cols, batch)`` input of the sparse batch product, and its ``(out_channels, out_h * out_w *
batch)`` result is already the next activation. Patch rows are ordered ``(channel, kh, kw)``, which
is the column order of a conv weight ``(out, in, kh, kw)`` flattened to ``(out, in * kh * kw)``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def im2col(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[np.ndarray, tuple[int, int]]:
    """Patches of ``x`` ``(C, H, W, N)``: ``((C * kh * kw, OH * OW * N), (OH, OW))``."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    channels, height, width, batch = x.shape
    oh = conv_output_size(height, kh, sh, ph, dh)
    ow = conv_output_size(width, kw, sw, pw, dw)
    if oh < 1 or ow < 1:
        raise ValueError(f"a {kh}x{kw} convolution does not fit a {height}x{width} input")
    if ph or pw:
        x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    windows = sliding_window_view(x, span, axis=(1, 2))  # (C, H', W', N, span_h, span_w)
    windows = windows[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, :, ::dh, ::dw]
    patches = windows.transpose(0, 4, 5, 1, 2, 3)  # (C, kh, kw, OH, OW, N)
    return np.ascontiguousarray(patches).reshape(channels * kh * kw, oh * ow * batch), (oh, ow)


def pool2d(
    x: np.ndarray,
    kind: str,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> np.ndarray:
    """Max or average pooling (``count_include_pad``) over axes ``(-3, -2)`` of ``(..., H, W, N)``.

    Float input gives float32; integer input (fixed point) gives the same integer dtype, averages
    rounded half up. The window is walked offset by offset, each offset one strided slice of the
    whole output (``kh * kw`` whole-array operations rather than one reduction over tiny windows).
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    integer = np.issubdtype(x.dtype, np.integer)
    if ph or pw:
        if kind == "maxpool2d":
            fill = np.iinfo(x.dtype).min if integer else -np.inf
        else:
            fill = 0
        pad = [(0, 0)] * (x.ndim - 3) + [(ph, ph), (pw, pw), (0, 0)]
        x = np.pad(x, pad, constant_values=fill)
    height, width = x.shape[-3], x.shape[-2]
    oh, ow = (height - kh) // sh + 1, (width - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"a {kh}x{kw} pooling window does not fit a {height}x{width} input")

    def window(i: int, j: int) -> np.ndarray:
        return x[..., i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :]

    offsets = [(i, j) for i in range(kh) for j in range(kw)]
    if kind == "maxpool2d":
        out = window(*offsets[0]).copy()
        for i, j in offsets[1:]:
            np.maximum(out, window(i, j), out=out)
        return out
    total = np.zeros(window(0, 0).shape, dtype=np.int64 if integer else np.float64)
    for i, j in offsets:
        total += window(i, j)
    count = kh * kw
    if integer:
        return ((2 * total + count) // (2 * count)).astype(x.dtype)
    return (total / count).astype(np.float32)
