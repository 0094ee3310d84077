"""Sparse products over the EIE layout against a slow numpy reference and dense torch."""

import numpy as np
import pytest
import torch
from engine_helpers import dense_matrix, random_layer, sparse_input
from hypothesis import given, settings
from hypothesis import strategies as st

from deepzip.engine import (
    EngineLayer,
    decode_columns,
    decode_columns_reference,
    sparse_matmul,
    sparse_matmul_fixed16,
    sparse_matvec,
    sparse_matvec_fixed16,
    sparse_product_fixed16_reference,
    sparse_product_reference,
)

RTOL = 1e-5  # relative to the largest output magnitude


def torch_dense(compressed, x: np.ndarray, relu: bool) -> np.ndarray:
    """The dense, dequantized layer in torch: float64 ``act(W x + b)`` for ``x`` (cols[, batch])."""
    weight = torch.from_numpy(dense_matrix(compressed))
    bias = None if compressed.bias is None else torch.from_numpy(compressed.bias).double()
    inputs = torch.from_numpy(np.atleast_2d(x.T)).double()  # (batch, cols)
    y = torch.nn.functional.linear(inputs, weight.double(), bias)
    if relu:
        y = torch.relu(y)
    y = y.numpy().T
    return y[:, 0] if x.ndim == 1 else y


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-30)
    assert float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) <= RTOL * scale


# rows, cols, weight density, weight_bits, index_bits, pes, activation density, empty columns
CASES = [
    (1, 1, 1.0, 4, 4, 2, 1.0, 0),  # one weight
    (1, 50, 0.5, 4, 4, 2, 0.5, 10),  # one row
    (50, 1, 0.5, 4, 4, 2, 1.0, 0),  # one column
    (37, 53, 0.1, 4, 4, 2, 0.35, 13),  # empty columns
    (37, 53, 0.1, 4, 4, 3, 0.0, 0),  # all-zero input
    (37, 53, 0.1, 4, 4, 2, 1.0, 0),  # fully dense input
    (40, 30, 1.0, 4, 4, 2, 1.0, 0),  # fully dense weights and input
    (3, 40, 0.4, 4, 4, 8, 0.5, 0),  # more PEs than rows
    (64, 70, 0.03, 4, 2, 4, 0.4, 5),  # many filler zeros
    (60, 45, 0.2, 5, 5, 2, 0.5, 3),  # split layout, 5-bit codes and gaps (LeNet's fc widths)
    (30, 45, 0.3, 8, 5, 3, 0.5, 0),  # split layout, 8-bit codes (LeNet's conv width)
    (30, 45, 0.3, 10, 3, 2, 0.5, 0),  # split layout, uint16 codes
    (30, 45, 0.3, 3, 5, 1, 0.5, 0),  # packed 3 + 5 bits, one PE
]


@pytest.fixture(params=CASES, ids=lambda c: "x".join(map(str, c[:2])) + f"-w{c[3]}i{c[4]}p{c[5]}")
def case(request):
    rows, cols, density, wbits, ibits, pes, act, empty = request.param
    rng = np.random.default_rng(abs(hash(request.param)) % 2**32)
    compressed = random_layer(rng, rows, cols, density, wbits, ibits, empty_columns=empty)
    return compressed, EngineLayer.from_compressed(compressed, pes), act, rng


@pytest.mark.parametrize("relu", [False, True])
def test_matvec(case, relu):
    compressed, layer, act, rng = case
    x = sparse_input(rng, (layer.shape[1],), act)
    got = sparse_matvec(layer, x, relu)
    assert got.dtype == np.float32
    assert_close(got, sparse_product_reference(layer, x, relu))
    assert_close(got, torch_dense(compressed, x, relu))


@pytest.mark.parametrize("batch", [1, 2, 63, 64, 65, 130])
@pytest.mark.parametrize("relu", [False, True])
def test_matmul(case, batch, relu):
    compressed, layer, act, rng = case
    x = sparse_input(rng, (layer.shape[1], batch), act)
    got = sparse_matmul(layer, x, relu)
    assert got.dtype == np.float32 and got.shape == (layer.shape[0], batch)
    assert_close(got, sparse_product_reference(layer, x, relu))
    assert_close(got, torch_dense(compressed, x, relu))


def test_batch_columns_equal_vectors(case):
    _, layer, act, rng = case
    x = sparse_input(rng, (layer.shape[1], 5), act)
    batch = sparse_matmul(layer, x)
    for b in range(5):
        assert_close(batch[:, b], sparse_matvec(layer, np.ascontiguousarray(x[:, b])))


def test_threads_do_not_change_the_result(case):
    # Each PE accumulates its rows in the same order on any thread: results are bitwise equal.
    _, layer, act, rng = case
    x = sparse_input(rng, (layer.shape[1],), act)
    xb = sparse_input(rng, (layer.shape[1], 70), act)
    for threads in (2, 3):
        np.testing.assert_array_equal(
            sparse_matvec(layer, x, threads=1), sparse_matvec(layer, x, threads=threads)
        )
        np.testing.assert_array_equal(
            sparse_matmul(layer, xb, threads=1), sparse_matmul(layer, xb, threads=threads)
        )


@pytest.mark.parametrize("relu", [False, True])
def test_fixed16_is_exact_integer_arithmetic(case, relu):
    _, layer, act, rng = case
    codebook = np.rint(layer.codebook * 1000).astype(np.int16)
    x = np.rint(sparse_input(rng, (layer.shape[1],), act) * 3000).astype(np.int16)
    got = sparse_matvec_fixed16(layer, codebook, x, 2.0**20, relu)
    assert got.dtype == np.int64
    want = sparse_product_fixed16_reference(layer, codebook, x, 2.0**20, relu)
    np.testing.assert_array_equal(got, want)
    xb = np.rint(sparse_input(rng, (layer.shape[1], 70), act) * 3000).astype(np.int16)
    scales = 2.0 ** rng.integers(10, 25, 70)
    got = sparse_matmul_fixed16(layer, codebook, xb, scales, relu)
    want = sparse_product_fixed16_reference(layer, codebook, xb, scales, relu)
    np.testing.assert_array_equal(got, want)


def test_no_bias():
    rng = np.random.default_rng(5)
    compressed = random_layer(rng, 20, 30, 0.3, bias=False)
    layer = EngineLayer.from_compressed(compressed, 2)
    x = sparse_input(rng, (30,), 0.5)
    assert_close(sparse_matvec(layer, x), torch_dense(compressed, x, False))
    codebook = np.rint(layer.codebook * 100).astype(np.int16)
    xq = np.rint(x * 100).astype(np.int16)
    np.testing.assert_array_equal(
        sparse_matvec_fixed16(layer, codebook, xq, 1.0),
        sparse_product_fixed16_reference(layer, codebook, xq, 1.0),
    )


def test_large_layer_runs_parallel_and_matches():
    # Big enough to take the multi-threaded path (SERIAL_WORK).
    rng = np.random.default_rng(6)
    compressed = random_layer(rng, 700, 900, 0.09, bias=True)
    layer = EngineLayer.from_compressed(compressed, 2)
    x = sparse_input(rng, (900,), 0.35)
    assert_close(sparse_matvec(layer, x, relu=True), torch_dense(compressed, x, True))
    xb = sparse_input(rng, (900, 64), 0.35)
    assert_close(sparse_matmul(layer, xb, relu=True), torch_dense(compressed, xb, True))


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    density=st.sampled_from([0.0, 0.05, 0.3, 1.0]),
    act=st.sampled_from([0.0, 0.2, 1.0]),
    pes=st.integers(1, 9),
    bits=st.sampled_from([(4, 4), (2, 1), (5, 5), (8, 3)]),
    batch=st.integers(1, 70),
    seed=st.integers(0, 2**16),
)
def test_random_layers(rows, cols, density, act, pes, bits, batch, seed):
    rng = np.random.default_rng(seed)
    compressed = random_layer(rng, rows, cols, density, *bits)
    layer = EngineLayer.from_compressed(compressed, pes)
    x = sparse_input(rng, (cols, batch), act)
    assert_close(sparse_matmul(layer, x, relu=True), torch_dense(compressed, x, True))
    x1 = np.ascontiguousarray(x[:, 0])
    assert_close(sparse_matvec(layer, x1), torch_dense(compressed, x1, False))


def test_input_validation():
    rng = np.random.default_rng(7)
    layer = EngineLayer.from_compressed(random_layer(rng, 5, 6, 0.5), 2)
    with pytest.raises(ValueError, match="cols = 6"):
        sparse_matvec(layer, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="float32"):
        sparse_matvec(layer, np.zeros(6, np.float64))
    with pytest.raises(ValueError, match=r"\(cols, batch\)"):
        sparse_matmul(layer, np.zeros(6, np.float32))
    with pytest.raises(ValueError, match="int16"):
        sparse_matvec_fixed16(layer, layer.codebook, np.zeros(6, np.int16), 1.0)
    with pytest.raises(ValueError, match="bias_scale"):
        sparse_matmul_fixed16(
            layer, np.zeros(layer.codebook.shape, np.int16), np.zeros((6, 3), np.int16), np.ones(2)
        )


@pytest.mark.parametrize(
    ("rows", "cols", "bits", "pes", "columns"),
    [
        (1, 1, (4, 4), 2, [0]),
        (5, 9, (4, 2), 8, [8, 0, 8]),  # more PEs than rows, a column asked twice
        (37, 20, (10, 3), 3, [19, 2, 5]),  # split layout, uint16 codes
        (37, 20, (5, 5), 2, []),  # nothing asked
    ],
)
def test_decode_columns(rows, cols, bits, pes, columns):
    rng = np.random.default_rng(rows + cols)
    compressed = random_layer(rng, rows, cols, 0.3, *bits, empty_columns=3)
    layer = EngineLayer.from_compressed(compressed, pes)
    got = decode_columns(layer, np.array(columns, dtype=np.int64))
    assert got.dtype == np.float32 and got.shape == (rows, len(columns))
    np.testing.assert_array_equal(got, decode_columns_reference(layer, columns))
    np.testing.assert_array_equal(got, dense_matrix(compressed)[:, columns])
    with pytest.raises(ValueError, match="outside"):
        decode_columns(layer, np.array([cols]))
