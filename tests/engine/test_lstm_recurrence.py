"""The LSTM recurrence kernels (``lstm.recurrence``) against the per-step path
(``lstm.recurrence_steps``, ``W_hh h`` by ``product`` and the gates in numpy), on random layouts
of awkward sizes."""

import dataclasses

import numba
import numpy as np
import pytest
from engine_helpers import random_layer

from deepzip.engine import lstm
from deepzip.engine._lstm_kernels import _tanh
from deepzip.engine.layout import EngineLayer
from deepzip.engine.parameters import DenseMatrix


def w_hh_layout(rng, hidden, pes, weight_bits=4, index_bits=4, density=0.4, **options):
    """A random compressed ``W_hh`` ``(4 H, H)`` laid out over ``pes`` PEs, codebook scaled so that
    the gates stay in the nonlinearities' working range."""
    layer = random_layer(rng, 4 * hidden, hidden, density, weight_bits, index_bits, **options)
    layout = EngineLayer.from_compressed(layer, pes)
    codebook = (layout.codebook * np.float32(1.5 / np.sqrt(hidden))).astype(np.float32)
    return dataclasses.replace(layout, codebook=codebook)


def state(rng, hidden, batch, zero):
    if zero:
        return np.zeros((batch, hidden), np.float32), np.zeros((batch, hidden), np.float32)
    return (
        rng.normal(0, 1, (batch, hidden)).astype(np.float32),
        rng.normal(0, 2, (batch, hidden)).astype(np.float32),
    )


def assert_same_recurrence(w_hh, projected, h0, c0, reverse, threads=None):
    h0_before, c0_before = h0.copy(), c0.copy()
    got = lstm.recurrence(w_hh, projected, h0, c0, reverse, threads)
    want = lstm.recurrence_steps(w_hh, projected, h0, c0, reverse)
    for name, g, w in zip(("out", "h_T", "c_T"), got, want):
        assert g.dtype == np.float32 and g.shape == w.shape, name
        # W_hh h is the product kernels' own; only the libm nonlinearities may differ, by an ulp.
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=2e-6, err_msg=name)
    np.testing.assert_array_equal(h0, h0_before)  # the caller's state is not overwritten
    np.testing.assert_array_equal(c0, c0_before)


@pytest.mark.parametrize(
    ("hidden", "pes", "batch", "steps"),
    [
        (1, 1, 1, 1),
        (1, 8, 1, 3),  # 4 gate rows, 8 PEs: some PEs own no row
        (3, 16, 2, 5),  # odd hidden size, fewer rows than PEs
        (5, 3, 1, 7),
        (7, 2, 3, 4),
        (16, 4, 65, 3),  # two batch tiles, the second one sequence wide
        (33, 5, 130, 2),
    ],
)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("zero_state", [False, True])
def test_recurrence_matches_steps(hidden, pes, batch, steps, reverse, zero_state):
    rng = np.random.default_rng(hidden * 100 + batch)
    w_hh = w_hh_layout(rng, hidden, pes, bias=False)
    projected = rng.normal(0, 1, (4 * hidden, steps, batch)).astype(np.float32)
    h0, c0 = state(rng, hidden, batch, zero_state)
    assert_same_recurrence(w_hh, projected, h0, c0, reverse)


@pytest.mark.parametrize(
    ("weight_bits", "index_bits"),
    [(4, 4), (5, 6), (2, 1), (9, 3)],  # packed; split (the LSTM result's); many fillers; uint16
)
@pytest.mark.parametrize("batch", [1, 4])
def test_recurrence_layouts(weight_bits, index_bits, batch):
    rng = np.random.default_rng(weight_bits + index_bits)
    w_hh = w_hh_layout(rng, 9, 3, weight_bits, index_bits, density=0.3, bias=True)
    assert w_hh.packed == (weight_bits + index_bits <= 8) and w_hh.bias is not None
    projected = rng.normal(0, 1, (36, 6, batch)).astype(np.float32)
    h0, c0 = state(rng, 9, batch, False)
    assert_same_recurrence(w_hh, projected, h0, c0, False)
    if index_bits == 1:
        assert w_hh.n_fillers > 0


@pytest.mark.parametrize("batch", [1, 3])
def test_recurrence_zero_columns_and_zero_input(batch):
    """A W_hh whose first columns keep nothing; an all-zero input and state (h stays zero for the
    first step, so no column is visited); a W_hh with no entry at all."""
    rng = np.random.default_rng(batch)
    w_hh = w_hh_layout(rng, 6, 4, bias=False, empty_columns=4)
    h0, c0 = state(rng, 6, batch, False)
    projected = rng.normal(0, 1, (24, 5, batch)).astype(np.float32)
    assert_same_recurrence(w_hh, projected, h0, c0, False)
    zero_h, zero_c = state(rng, 6, batch, True)
    assert_same_recurrence(w_hh, np.zeros_like(projected), zero_h, zero_c, True)
    empty = w_hh_layout(rng, 6, 4, density=0.0, bias=False)
    assert empty.n_entries == 0
    assert_same_recurrence(empty, projected, h0, c0, False)


def test_recurrence_threads_and_extremes():
    """Forced threads give the same result; huge and tiny gates saturate and stay finite."""
    rng = np.random.default_rng(7)
    w_hh = w_hh_layout(rng, 10, 3, bias=False)
    projected = rng.normal(0, 1, (40, 4, 140)).astype(np.float32)
    projected[:, 1, :7] = 1e4
    projected[:, 2, 7:14] = -1e4
    projected[:, 3, 14:21] = rng.normal(0, 1e-6, (40, 7))
    h0, c0 = state(rng, 10, 140, False)
    one = lstm.recurrence(w_hh, projected, h0, c0, False, threads=1)
    for threads in (2, 3):
        for a, b in zip(one, lstm.recurrence(w_hh, projected, h0, c0, False, threads=threads)):
            np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(a).all() for a in one)
    assert_same_recurrence(w_hh, projected, h0, c0, False)


@numba.njit
def tanh_kernel(x, out):
    for k in range(x.shape[0]):
        out[k] = _tanh(x[k])


def test_tanh_within_an_ulp():
    x = np.concatenate(
        [
            np.random.default_rng(0).normal(0, 3, 20_000),
            [0.0, -0.0, 1e-30, -1e-12, 1e-4, 9.99e-4, 1e-3, -1e-3, 9.0, 20.0, -np.inf, np.inf],
        ]
    ).astype(np.float32)
    got = np.empty_like(x)
    tanh_kernel(x, got)
    want = np.tanh(x.astype(np.float64)).astype(np.float32)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32))
    assert ulps.max() <= 1
    assert np.signbit(got[x == 0]).tolist() == np.signbit(x[x == 0]).tolist()


def test_a_plain_w_hh_runs_step_by_step():
    rng = np.random.default_rng(3)
    weight = rng.normal(0, 0.3, (12, 3)).astype(np.float32)
    projected = rng.normal(0, 1, (12, 4, 2)).astype(np.float32)
    h0, c0 = state(rng, 3, 2, False)
    got = lstm.recurrence(DenseMatrix("w", weight, None), projected, h0, c0, False)
    h, c = h0.astype(np.float64), c0.astype(np.float64)
    for t in range(4):
        gates = projected[:, t].T + h @ weight.T.astype(np.float64)
        i, f, g, o = np.split(gates, 4, axis=1)
        c = c / (1 + np.exp(-f)) + np.tanh(g) / (1 + np.exp(-i))
        h = np.tanh(c) / (1 + np.exp(-o))
        np.testing.assert_allclose(got[0][t], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[2], c, rtol=1e-5, atol=1e-6)


def test_recurrence_shape_errors():
    rng = np.random.default_rng(0)
    w_hh = w_hh_layout(rng, 4, 2, bias=False)
    h0, c0 = state(rng, 4, 2, False)
    with pytest.raises(ValueError, match="does not fit"):
        lstm.recurrence(w_hh, np.zeros((20, 3, 2), np.float32), h0, c0, False)
    with pytest.raises(ValueError, match="h0"):
        lstm.recurrence(w_hh, np.zeros((16, 3, 2), np.float32), h0[:1], c0, False)
