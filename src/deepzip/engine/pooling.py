"""2-D pooling in numpy with torch's exact window formulas, over the last two axes ``(H, W)``.

- ``max_pool2d``: padding, dilation, ``ceil_mode`` (a window that would start in the padding past
  the input is dropped), and the flat ``h * W + w`` index of each maximum, as torch returns it
  (the first maximum in the window's row-major order; a NaN wins);
- ``max_unpool2d``: the values put back at those indices;
- ``avg_pool2d``: ``ceil_mode``, ``count_include_pad`` and ``divisor_override``;
- ``adaptive_avg_pool2d``: windows ``[floor(o * in / out), ceil((o + 1) * in / out))``.

Float input gives float32 (sums in float64). The max and average pools also take the engine's
integer fixed-point values (EIE's 16-bit arithmetic): the max is exact, the average is rounded
half up. The window is walked offset by offset, each offset one strided slice of the whole output
(``kh * kw`` whole-array operations rather than one reduction per tiny window). The float32 max
pool's values alone (what a network reads) come from a numba kernel (``_pooling_kernels``) that
does the same row by row, planes in parallel.
"""

from __future__ import annotations

import numpy as np

from deepzip.engine import _pooling_kernels
from deepzip.engine.spatial import pad_trailing


def pool_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """torch's ``pooling_output_shape``."""
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the padding past the input
    if out < 1:
        raise ValueError(
            f"a {kernel}-wide pooling window (padding {padding}, dilation {dilation}) does not "
            f"fit an input of {size}"
        )
    return out


def _padded(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], fill) -> np.ndarray:
    return pad_trailing(x, pads, fill)


def _tail(out: int, stride: int, padding: int, reach: int, size: int) -> int:
    """Padding after the input so that every window's last position ``reach`` exists."""
    return max(0, (out - 1) * stride - padding + reach - (size - 1))


def max_pool2d(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    ceil_mode: bool,
    with_indices: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(values, indices)``: the maxima of ``x`` ``(..., H, W)`` and their int64 flat indices
    (None unless ``with_indices``: the values alone are, for float32, one numba kernel
    (``_pooling_kernels``), otherwise one ``np.maximum`` per offset, which propagates a NaN as
    torch does; every window holds at least one input value)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    height, width = x.shape[-2:]
    oh = pool_output_size(height, kh, sh, ph, dh, ceil_mode)
    ow = pool_output_size(width, kw, sw, pw, dw, ceil_mode)
    if not with_indices and x.dtype == np.float32:
        planes = np.ascontiguousarray(x).reshape(-1, height, width)
        values = np.empty((planes.shape[0], oh, ow), dtype=np.float32)
        _pooling_kernels.max_pool_float32(planes, kh, kw, sh, sw, ph, pw, dh, dw, values)
        return values.reshape(*x.shape[:-2], oh, ow), None
    floating = np.issubdtype(x.dtype, np.floating)
    lowest = -np.inf if floating else np.iinfo(x.dtype).min
    bottom = _tail(oh, sh, ph, dh * (kh - 1), height)
    right = _tail(ow, sw, pw, dw * (kw - 1), width)
    xp = _padded(x, ((ph, bottom), (pw, right)), lowest)
    if not with_indices:
        values = None
        for i in range(kh):
            for j in range(kw):
                candidate = xp[
                    ...,
                    i * dh : i * dh + (oh - 1) * sh + 1 : sh,
                    j * dw : j * dw + (ow - 1) * sw + 1 : sw,
                ]
                if values is None:
                    values = candidate.copy()
                else:
                    np.maximum(values, candidate, out=values)
        return values, None
    h_start = np.arange(oh) * sh - ph
    w_start = np.arange(ow) * sw - pw
    # torch starts each window at its first position inside the input (on the dilated grid).
    h_first = np.where(h_start < 0, h_start + (-h_start + dh - 1) // dh * dh, h_start)
    w_first = np.where(w_start < 0, w_start + (-w_start + dw - 1) // dw * dw, w_start)
    values = np.full((*x.shape[:-2], oh, ow), lowest, dtype=x.dtype)
    indices = np.broadcast_to(h_first[:, None] * width + w_first[None, :], values.shape).copy()
    for i in range(kh):
        rows = h_start + i * dh
        row_ok = (rows >= 0) & (rows < height)
        for j in range(kw):
            cols = w_start + j * dw
            inside = row_ok[:, None] & ((cols >= 0) & (cols < width))[None, :]
            candidate = xp[
                ...,
                i * dh : i * dh + (oh - 1) * sh + 1 : sh,
                j * dw : j * dw + (ow - 1) * sw + 1 : sw,
            ]
            better = candidate > values
            if floating:
                better |= np.isnan(candidate)
            better &= inside
            np.copyto(values, candidate, where=better)
            np.copyto(indices, np.broadcast_to(rows[:, None] * width + cols, better.shape),
                      where=better)  # fmt: skip
    return values, indices


def max_unpool2d(values: np.ndarray, indices: np.ndarray, output_size: tuple[int, int]):
    """torch's ``max_unpool2d``: zeros of ``(..., *output_size)`` with ``values`` at the flat
    ``indices`` (``values.shape``)."""
    if values.shape != indices.shape:
        raise ValueError(f"values {values.shape} and indices {indices.shape} differ in shape")
    size = int(output_size[0]) * int(output_size[1])
    flat_indices = np.asarray(indices, dtype=np.int64).reshape(*values.shape[:-2], -1)
    if flat_indices.size and (flat_indices.min() < 0 or flat_indices.max() >= size):
        raise ValueError(f"an index is outside the {tuple(output_size)} output")
    out = np.zeros((*values.shape[:-2], size), dtype=values.dtype)
    np.put_along_axis(out, flat_indices, values.reshape(flat_indices.shape), axis=-1)
    return out.reshape(*values.shape[:-2], *output_size)


def _avg_extents(size: int, kernel: int, stride: int, padding: int, out: int):
    """Per output index: the window size counting padding, and counting the input only."""
    start = np.arange(out) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    with_padding = end - start
    inside = np.minimum(end, size) - np.maximum(start, 0)
    return with_padding, np.maximum(inside, 0)


def avg_pool2d(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int,
) -> np.ndarray:
    """torch's ``avg_pool2d`` of ``x`` ``(..., H, W)`` (``divisor_override`` 0: none)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    height, width = x.shape[-2:]
    oh = pool_output_size(height, kh, sh, ph, 1, ceil_mode)
    ow = pool_output_size(width, kw, sw, pw, 1, ceil_mode)
    integer = np.issubdtype(x.dtype, np.integer)
    bottom = _tail(oh, sh, ph, kh - 1, height)
    right = _tail(ow, sw, pw, kw - 1, width)
    xp = _padded(x, ((ph, bottom), (pw, right)), 0)
    total = np.zeros((*x.shape[:-2], oh, ow), dtype=np.int64 if integer else np.float64)
    for i in range(kh):
        for j in range(kw):
            total += xp[..., i : i + (oh - 1) * sh + 1 : sh, j : j + (ow - 1) * sw + 1 : sw]
    pad_h, inside_h = _avg_extents(height, kh, sh, ph, oh)
    pad_w, inside_w = _avg_extents(width, kw, sw, pw, ow)
    empty = np.outer(inside_h, inside_w) == 0  # a window wholly in the padding: torch gives 0
    if divisor_override:
        divisor = np.full((oh, ow), int(divisor_override), dtype=np.int64)
    elif count_include_pad:
        divisor = np.outer(pad_h, pad_w)
    else:
        divisor = np.maximum(np.outer(inside_h, inside_w), 1)
    if integer:
        result = (2 * total + divisor) // (2 * divisor)  # rounded half up
        return np.where(empty, 0, result).astype(x.dtype)
    return np.where(empty, 0.0, total / divisor).astype(np.float32)


def adaptive_avg_pool2d(x: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """torch's ``adaptive_avg_pool2d`` of ``x`` ``(..., H, W)``: separable window means (one
    mean of each whole plane for a ``(1, 1)`` output, a classifier's global pooling)."""
    if tuple(output_size) == (1, 1):
        planes = x.reshape(*x.shape[:-2], -1)
        return planes.mean(axis=-1, dtype=np.float64).astype(np.float32)[..., None, None]
    for axis, out in ((-2, output_size[0]), (-1, output_size[1])):
        size = x.shape[axis]
        if out < 1:
            raise ValueError(f"adaptive_avg_pool2d: output size {tuple(output_size)} must be >= 1")
        parts = [
            np.take(x, np.arange(o * size // out, -(-(o + 1) * size // out)), axis=axis).mean(
                axis=axis, keepdims=True, dtype=np.float64
            )
            for o in range(out)
        ]
        x = np.concatenate(parts, axis=axis)
    return x.astype(np.float32)
