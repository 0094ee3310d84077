"""16-bit fixed-point arithmetic for the engine (EIE §IV: 16-bit fixed-point weights and
activations).

A Q-format number is an integer ``q`` standing for ``q * 2**-f``, ``f`` its fractional bits. The
engine's formats:

- weights: one format per layer, chosen from the codebook's range: the largest ``f`` with
  ``round(max|codebook| * 2**f) <= 32767``, so the largest shared weight uses all 15 magnitude
  bits (``f`` may exceed 15 for small weights). The codebook is stored as int16; code 0 stays 0.
- activations: int16, with one format per input vector (per sample of a batch), chosen the same
  way from that vector's largest magnitude (dynamic fixed point: each activation vector carries
  its fractional bits, so no calibration data is needed and no value saturates).
- products: int16 x int16 summed exactly in int64, in the format ``f_weight + f_activation``;
  the bias is rounded into that format; ReLU is exact.
- between layers the int64 sums are rounded (half up) back to int16 by the smallest right shift
  that makes the sample's largest magnitude fit, and the shift is subtracted from ``f``;
- an activation's ``f`` is capped so that the accumulator's ``f_weight + f_activation`` stays at
  most ``ACCUMULATOR_FRACTIONAL_BITS`` (40): the rounded bias, ``bias * 2**f``, then fits int64
  for any bias below ``2**22`` (the products themselves are below ``2**30`` in any format).

The functions take arrays with the batch as their last axis (``(..., batch)``); ``Fixed`` holds
the graph runner's batch-first values.
"""

from __future__ import annotations

import numpy as np

INT16_MAX = 32767
MAX_FRACTIONAL_BITS = 60
"""Upper limit on any format's fractional bits (for all-zero or tiny values)."""
ACCUMULATOR_FRACTIONAL_BITS = 40
"""Upper limit on a product's fractional bits (weight bits + activation bits)."""


def fractional_bits(max_abs: np.ndarray | float) -> np.ndarray:
    """The largest ``f`` (int64, elementwise) with ``round(max_abs * 2**f) <= 32767``."""
    max_abs = np.asarray(max_abs, dtype=np.float64)
    with np.errstate(divide="ignore"):
        f = np.floor(np.log2(INT16_MAX / max_abs))
    f = np.where(max_abs > 0, f, MAX_FRACTIONAL_BITS)
    f = np.minimum(f, MAX_FRACTIONAL_BITS).astype(np.int64)

    # log2 and the rounding can be off by one either way: step down until the value fits, then
    # up while the next format still fits.
    def fits(bits: np.ndarray) -> np.ndarray:
        return np.rint(max_abs * np.exp2(bits.astype(np.float64))) <= INT16_MAX

    while not np.all(fits(f)):
        f = np.where(fits(f), f, f - 1)
    while True:
        up = fits(f + 1) & (f < MAX_FRACTIONAL_BITS)
        if not np.any(up):
            return f
        f = np.where(up, f + 1, f)


def quantize_weights(values: np.ndarray) -> tuple[np.ndarray, int]:
    """``(int16 values, f)``: one format for the whole array (a codebook or a plain weight)."""
    values = np.asarray(values, dtype=np.float64)
    f = int(fractional_bits(np.abs(values).max() if values.size else 0.0))
    return np.rint(values * 2.0**f).astype(np.int16), f


def _per_sample_max(q: np.ndarray) -> np.ndarray:
    """Largest magnitude per sample (the last axis), as float64 ``(batch,)``."""
    flat = np.abs(q.reshape(-1, q.shape[-1]))
    return flat.max(axis=0).astype(np.float64) if flat.shape[0] else np.zeros(q.shape[-1])


def quantize_activations(
    x: np.ndarray, max_frac: int = MAX_FRACTIONAL_BITS
) -> tuple[np.ndarray, np.ndarray]:
    """``(int16 q, f)`` for float activations ``(..., batch)``; ``f`` int64 ``(batch,)``,
    at most ``max_frac``."""
    x = np.asarray(x, dtype=np.float64)
    f = np.minimum(fractional_bits(_per_sample_max(x)), max_frac)
    q = np.rint(x * np.exp2(f.astype(np.float64)))
    return np.clip(q, -INT16_MAX - 1, INT16_MAX).astype(np.int16), f


def requantize(
    acc: np.ndarray, f: np.ndarray, max_frac: int = MAX_FRACTIONAL_BITS
) -> tuple[np.ndarray, np.ndarray]:
    """Round int64 sums ``(..., batch)`` in formats ``f`` to int16: ``(q, f - shift)``.

    The shift per sample is the smallest that brings its largest magnitude below ``2**15`` and
    its format to at most ``max_frac`` fractional bits.
    """
    acc = np.asarray(acc, dtype=np.int64)
    f = np.asarray(f, dtype=np.int64)
    _, exponent = np.frexp(_per_sample_max(acc))  # max < 2**exponent
    shift = np.maximum(np.maximum(exponent.astype(np.int64) - 15, f - max_frac), 0)
    half = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
    q = np.right_shift(acc + half, np.minimum(shift, 63))
    return np.clip(q, -INT16_MAX - 1, INT16_MAX).astype(np.int16), f - shift


def dequantize(q: np.ndarray, f: np.ndarray) -> np.ndarray:
    """float32 values of ``q`` (int, ``(..., batch)``) in formats ``f`` ``(batch,)``."""
    scale = np.exp2(-np.asarray(f, dtype=np.float64))
    return (np.asarray(q, dtype=np.float64) * scale).astype(np.float32)


def bias_scales(weight_f: int, activation_f: np.ndarray) -> np.ndarray:
    """``2**(weight_f + activation_f)``: the accumulator's scale per sample (float64)."""
    return np.exp2((weight_f + np.asarray(activation_f, dtype=np.int64)).astype(np.float64))


class Fixed:
    """A fixed-point activation, batch first: integers ``q`` ``(N, ...)`` (int16, or the int64
    sums of a layer) and their fractional bits ``f`` int64 ``(N,)``, one format per sample."""

    def __init__(self, q: np.ndarray, f: np.ndarray) -> None:
        self.q, self.f = q, f

    @classmethod
    def from_float(cls, x: np.ndarray) -> Fixed:
        q, f = quantize_activations(np.moveaxis(x, 0, -1))
        return cls(np.moveaxis(q, -1, 0), f)

    def int16(self, max_frac: int) -> tuple[np.ndarray, np.ndarray]:
        """int16 values with at most ``max_frac`` fractional bits (a layer's input)."""
        if self.q.dtype != np.int16 or np.any(self.f > max_frac):
            q, self.f = requantize(np.moveaxis(self.q, 0, -1), self.f, max_frac)
            self.q = np.moveaxis(q, -1, 0)
        return self.q, self.f

    def to_float(self) -> np.ndarray:
        return np.moveaxis(dequantize(np.moveaxis(self.q, 0, -1), self.f), -1, 0)
