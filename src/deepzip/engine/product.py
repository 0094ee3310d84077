"""Sparse matrix products over the engine layout (EIE §III-A), and their slow references.

``decode_columns`` decodes the stored entries of chosen columns only (an embedding lookup).

``sparse_matvec`` / ``sparse_matmul`` compute ``act(W x + bias)`` for one input vector or a batch
straight from an ``EngineLayer``: only non-zero activations are visited, only stored entries are
touched, weights are decoded through the codebook, and the dense ``W`` is never built. The
``_fixed16`` variants do the same in EIE's 16-bit fixed point (see ``fixed_point``).

A batch is ``(cols, batch)``, the batch dimension contiguous (see ``_kernels``). The wrappers
validate shapes and dtypes and allocate the output; the kernels trust them.

Threads: a kernel runs its PEs on numba's threads. Handing work to another thread costs a few
microseconds on idle cores, and up to milliseconds when other processes hold them, more than a
small layer's whole product; so products smaller than ``SERIAL_WORK`` entry-updates run the PEs
one after another on the calling thread (``threads=None`` picks; pass a number to force).

The ``*_reference`` functions are the slow, obvious versions the tests compare against: they walk
each PE's columns in numpy and accumulate in float64 (exact int64 for fixed point).
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import numba
import numpy as np

from deepzip.engine import _kernels
from deepzip.engine.layout import EngineLayer

SERIAL_WORK = 32_768
"""Below this many entry-updates (stored entries x batch) a product runs on one thread."""


@contextmanager
def _numba_threads(threads: int):
    previous = numba.get_num_threads()
    if threads == previous:
        yield
        return
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def threads_for_work(pes: int, work: int, threads: int | None) -> int:
    """The threads a kernel of ``pes`` PEs runs on for ``work`` entry-updates: ``threads`` when
    given (within numba's limit), else one below ``SERIAL_WORK``, else numba's, at most ``pes``."""
    if threads is None:
        threads = 1 if work < SERIAL_WORK else min(numba.get_num_threads(), pes)
    return max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))


def _threads_for(layer: EngineLayer, batch: int, threads: int | None) -> int:
    return threads_for_work(layer.pes, layer.n_entries * batch, threads)


_NO_BIAS = {np.float32: np.zeros(0, dtype=np.float32), np.float64: np.zeros(0, dtype=np.float64)}


def _bias(layer: EngineLayer, dtype) -> np.ndarray:
    """The bias as ``dtype``, or an empty array (the kernels' "no bias")."""
    if layer.bias is None:
        return _NO_BIAS[dtype]
    return layer.bias.astype(dtype, copy=False)


def _gaps(layer: EngineLayer) -> np.ndarray:
    return layer.entries if layer.gaps is None else layer.gaps


def _check_input(layer: EngineLayer, x: np.ndarray, ndim: int, dtype) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != ndim or x.shape[0] != layer.shape[1]:
        want = "(cols,)" if ndim == 1 else "(cols, batch)"
        raise ValueError(
            f"layer {layer.name!r}: input must be {want} with cols = {layer.shape[1]}, "
            f"got shape {x.shape}"
        )
    if x.dtype != dtype:
        raise ValueError(f"layer {layer.name!r}: input must be {np.dtype(dtype)}, got {x.dtype}")
    return np.ascontiguousarray(x)


# ---------------------------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------------------------


def sparse_matvec(
    layer: EngineLayer, x: np.ndarray, relu: bool = False, threads: int | None = None
) -> np.ndarray:
    """``act(W x + bias)`` for one float32 input ``(cols,)``; returns float32 ``(rows,)``."""
    x = _check_input(layer, x, 1, np.float32)
    y = np.empty(layer.shape[0], dtype=np.float32)
    bias = _bias(layer, np.float32)
    with _numba_threads(_threads_for(layer, 1, threads)):
        if layer.packed:
            _kernels.matvec_packed_float32(
                layer.entries, layer.weight_bits, layer.col_ptr, layer.codebook, bias, relu, x, y
            )
        else:
            _kernels.matvec_split_float32(
                layer.entries,
                layer.gaps,
                layer.code_mask,
                layer.gap_shift,
                layer.col_ptr,
                layer.codebook,
                bias,
                relu,
                x,
                y,
            )
    return y


def sparse_matmul(
    layer: EngineLayer, x: np.ndarray, relu: bool = False, threads: int | None = None
) -> np.ndarray:
    """``act(W x + bias)`` for a float32 batch ``(cols, batch)``; returns ``(rows, batch)``."""
    x = _check_input(layer, x, 2, np.float32)
    y = np.empty((layer.shape[0], x.shape[1]), dtype=np.float32)
    bias = _bias(layer, np.float32)
    with _numba_threads(_threads_for(layer, x.shape[1], threads)):
        _kernels.matmul_split_float32(
            layer.entries,
            _gaps(layer),
            layer.code_mask,
            layer.gap_shift,
            layer.col_ptr,
            layer.codebook,
            bias,
            relu,
            x,
            y,
        )
    return y


def decode_columns(layer: EngineLayer, columns: np.ndarray) -> np.ndarray:
    """The weights of the columns ``columns`` (int64 ``(n,)``), float32 ``(rows, n)``: only their
    stored entries are read (an embedding lookup decodes the tokens it needs, nothing else)."""
    columns = np.ascontiguousarray(columns, dtype=np.int64)
    if columns.ndim != 1:
        raise ValueError(f"layer {layer.name!r}: columns must be 1-D, got shape {columns.shape}")
    if columns.size and (columns.min() < 0 or columns.max() >= layer.shape[1]):
        bad = int(columns[(columns < 0) | (columns >= layer.shape[1])][0])
        raise ValueError(f"layer {layer.name!r}: column {bad} is outside 0..{layer.shape[1] - 1}")
    y = np.zeros((layer.shape[0], columns.size), dtype=np.float32)
    _kernels.gather_columns(
        layer.entries, _gaps(layer), layer.code_mask, layer.gap_shift, layer.col_ptr,
        layer.codebook, columns, y,
    )  # fmt: skip
    return y


# ---------------------------------------------------------------------------------------------
# 16-bit fixed point
# ---------------------------------------------------------------------------------------------


def _check_codebook16(layer: EngineLayer, codebook: np.ndarray) -> np.ndarray:
    codebook = np.ascontiguousarray(codebook)
    if codebook.dtype != np.int16 or codebook.shape != layer.codebook.shape:
        raise ValueError(
            f"layer {layer.name!r}: the fixed-point codebook must be int16 of shape "
            f"{layer.codebook.shape}, got {codebook.dtype} {codebook.shape}"
        )
    return codebook


def sparse_matvec_fixed16(
    layer: EngineLayer,
    codebook: np.ndarray,
    x: np.ndarray,
    bias_scale: float,
    relu: bool = False,
    threads: int | None = None,
) -> np.ndarray:
    """Integer ``act(Wq xq + round(bias * bias_scale))`` for one int16 input; int64 ``(rows,)``.

    ``codebook`` is the layer's int16 codebook; ``bias_scale`` is ``2**f`` for the accumulator's
    fractional bits ``f`` (weight bits plus activation bits).
    """
    codebook = _check_codebook16(layer, codebook)
    x = _check_input(layer, x, 1, np.int16)
    y = np.empty(layer.shape[0], dtype=np.int64)
    bias = _bias(layer, np.float64)
    with _numba_threads(_threads_for(layer, 1, threads)):
        _kernels.matvec_fixed16(
            layer.entries,
            _gaps(layer),
            layer.code_mask,
            layer.gap_shift,
            layer.col_ptr,
            codebook,
            bias,
            float(bias_scale),
            relu,
            x,
            y,
        )
    return y


def sparse_matmul_fixed16(
    layer: EngineLayer,
    codebook: np.ndarray,
    x: np.ndarray,
    bias_scale: np.ndarray,
    relu: bool = False,
    threads: int | None = None,
) -> np.ndarray:
    """The batch form of ``sparse_matvec_fixed16``: ``x`` int16 ``(cols, batch)``,
    ``bias_scale`` float64 ``(batch,)``; returns int64 ``(rows, batch)``."""
    codebook = _check_codebook16(layer, codebook)
    x = _check_input(layer, x, 2, np.int16)
    bias_scale = np.ascontiguousarray(bias_scale, dtype=np.float64)
    if bias_scale.shape != (x.shape[1],):
        raise ValueError(f"bias_scale must have shape ({x.shape[1]},), got {bias_scale.shape}")
    y = np.empty((layer.shape[0], x.shape[1]), dtype=np.int64)
    bias = _bias(layer, np.float64)
    with _numba_threads(_threads_for(layer, x.shape[1], threads)):
        _kernels.matmul_fixed16(
            layer.entries,
            _gaps(layer),
            layer.code_mask,
            layer.gap_shift,
            layer.col_ptr,
            codebook,
            bias,
            bias_scale,
            relu,
            x,
            y,
        )
    return y


# ---------------------------------------------------------------------------------------------
# Slow references
# ---------------------------------------------------------------------------------------------


def _reference_terms(layer: EngineLayer):
    """Yield ``(rows, codes, column)`` per PE and column: global rows of the stored entries."""
    codes_all = layer.entry_codes()
    gaps_all = layer.entry_gaps()
    for p in range(layer.pes):
        for j in range(layer.shape[1]):
            lo, hi = int(layer.col_ptr[p, j]), int(layer.col_ptr[p, j + 1])
            local = np.cumsum(gaps_all[lo:hi] + 1) - 1
            yield local * layer.pes + p, codes_all[lo:hi], j


def sparse_product_reference(layer: EngineLayer, x: np.ndarray, relu: bool = False) -> np.ndarray:
    """Slow float64 ``act(W x + bias)`` for ``x`` ``(cols,)`` or ``(cols, batch)``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.zeros((layer.shape[0], *x.shape[1:]), dtype=np.float64)
    codebook = layer.codebook.astype(np.float64)
    for rows, codes, j in _reference_terms(layer):
        for r, c in zip(rows, codes):
            y[r] += codebook[c] * x[j]
    if layer.bias is not None:
        y += layer.bias.astype(np.float64).reshape(-1, *([1] * (x.ndim - 1)))
    return np.maximum(y, 0.0) if relu else y


def decode_columns_reference(layer: EngineLayer, columns: np.ndarray) -> np.ndarray:
    """Slow ``decode_columns``: the product with one-hot inputs."""
    one_hot = np.zeros((layer.shape[1], len(columns)))
    one_hot[np.asarray(columns, dtype=np.int64), np.arange(len(columns))] = 1.0
    return sparse_product_reference(dataclasses.replace(layer, bias=None), one_hot)


def sparse_product_fixed16_reference(
    layer: EngineLayer,
    codebook: np.ndarray,
    x: np.ndarray,
    bias_scale: float | np.ndarray,
    relu: bool = False,
) -> np.ndarray:
    """Slow exact int64 version of ``sparse_matvec_fixed16`` / ``sparse_matmul_fixed16``."""
    x = np.asarray(x, dtype=np.int64)
    y = np.zeros((layer.shape[0], *x.shape[1:]), dtype=np.int64)
    codebook = np.asarray(codebook, dtype=np.int64)
    for rows, codes, j in _reference_terms(layer):
        for r, c in zip(rows, codes):
            y[r] += codebook[c] * x[j]
    if layer.bias is not None:
        scale = np.asarray(bias_scale, dtype=np.float64)
        bias = np.floor(np.multiply.outer(layer.bias.astype(np.float64), scale) + 0.5)
        y += bias.astype(np.int64)
    return np.maximum(y, 0) if relu else y
