"""EIE's 16-bit fixed point: formats, rounding and the accumulator limit."""

import numpy as np

from deepzip.engine import fixed_point as fx


def test_fractional_bits_use_the_whole_range():
    for value in [1.0, 0.7, 3.0, 1e-3, 12345.0, 32767.0, 32767.4]:
        f = int(fx.fractional_bits(value))
        assert round(value * 2.0**f) <= 32767 < round(value * 2.0 ** (f + 1))
    assert int(fx.fractional_bits(0.0)) == fx.MAX_FRACTIONAL_BITS


def test_quantize_activations_per_sample():
    x = np.array([[0.5, 100.0, 0.0], [-0.25, 3.0, 0.0]], dtype=np.float32)  # (features, batch)
    q, f = fx.quantize_activations(x)
    assert q.dtype == np.int16 and f.tolist() == [15, 8, fx.MAX_FRACTIONAL_BITS]
    np.testing.assert_allclose(fx.dequantize(q, f), x, rtol=2**-14)
    _, capped = fx.quantize_activations(x, max_frac=10)
    assert capped.tolist() == [10, 8, 10]


def test_requantize_rounds_half_up_and_fits_int16():
    acc = np.array([[40000, 7], [-40001, 3], [5, -100000]], dtype=np.int64)  # batch of 2
    q, f = fx.requantize(acc, np.array([20, 10]))
    # sample 0: max 40001 needs 16 bits -> shift 1; sample 1: max 100000 needs 17 -> shift 2
    assert f.tolist() == [19, 8]
    assert q[:, 0].tolist() == [20000, -20000, 3]  # -40001 / 2 = -20000.5 rounds up
    assert q[:, 1].tolist() == [2, 1, -25000]
    small, f_small = fx.requantize(np.array([[3], [4]]), np.array([9]))
    assert small.ravel().tolist() == [3, 4] and f_small.tolist() == [9]  # no shift needed
    _, f_capped = fx.requantize(np.array([[3], [4]]), np.array([9]), max_frac=5)
    assert f_capped.tolist() == [5]


def test_quantize_weights():
    q, f = fx.quantize_weights(np.array([0.0, 0.5, -0.26, 0.01], dtype=np.float32))
    assert q.dtype == np.int16 and q[0] == 0 and f == 15  # 0.5 * 2**16 would be 32768
    np.testing.assert_allclose(q / 2.0**f, [0.0, 0.5, -0.26, 0.01], atol=2.0**-16)
