"""Canonical Huffman coding against slow references, Kraft, entropy and its degenerate cases."""

import heapq
import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepzip.core.huffman import (
    MAX_CODE_LENGTH,
    canonical_codes,
    code_lengths,
    entropy_bits,
    huffman_decode,
    huffman_decode_reference,
    huffman_encode,
    huffman_encode_reference,
    kraft_sum,
    validate_lengths,
)


def huffman_lengths_reference(frequencies):
    """Plain, unlimited Huffman: merge the two lightest subtrees until one is left."""
    heap = [(int(f), [s]) for s, f in enumerate(frequencies) if f > 0]
    lengths = np.zeros(len(frequencies), dtype=np.int64)
    heapq.heapify(heap)
    while len(heap) > 1:
        fa, a = heapq.heappop(heap)
        fb, b = heapq.heappop(heap)
        lengths[a + b] += 1
        heapq.heappush(heap, (fa + fb, a + b))
    return lengths


def best_cost_brute_force(frequencies, max_length):
    """Minimum total bits over every length vector that satisfies Kraft within the limit."""
    present = [int(f) for f in frequencies if f > 0]
    best = None
    for lengths in itertools.product(range(1, max_length + 1), repeat=len(present)):
        if sum(Fraction(1, 2**x) for x in lengths) <= 1:
            cost = sum(f * x for f, x in zip(present, lengths))
            best = cost if best is None else min(best, cost)
    return best


def cost(frequencies, lengths):
    return int(np.dot(np.asarray(frequencies, np.int64), np.asarray(lengths, np.int64)))


def normal_symbols(n, alphabet, sigma, seed):
    """floor(alphabet / 2 + sigma * z) clipped to the alphabet, z standard normal."""
    z = np.random.default_rng(seed).standard_normal(n)
    return np.clip(np.floor(alphabet // 2 + sigma * z), 0, alphabet - 1).astype(np.uint8)


# --- code lengths ---------------------------------------------------------------------------


frequency_tables = st.lists(st.integers(0, 10**6), min_size=0, max_size=40).map(np.array)


@settings(max_examples=300, deadline=None)
@given(frequency_tables, st.integers(1, MAX_CODE_LENGTH))
def test_code_lengths_optimal_and_complete(frequencies, max_length):
    present = np.count_nonzero(frequencies)
    if present > 2**max_length:
        with pytest.raises(ValueError, match="do not fit"):
            code_lengths(frequencies, max_length)
        return
    lengths = code_lengths(frequencies, max_length)
    assert lengths.dtype == np.uint8 and lengths.shape == frequencies.shape
    assert np.all((lengths == 0) == (frequencies == 0))
    assert lengths.max(initial=0) <= max_length
    if present >= 2:
        assert kraft_sum(lengths) == 1
    unlimited = huffman_lengths_reference(frequencies)
    if unlimited.max(initial=0) <= max_length and present >= 2:
        assert cost(frequencies, lengths) == cost(frequencies, unlimited)


@pytest.mark.parametrize("max_length", [2, 3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_length_limited_codes_are_optimal(max_length, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, min(2**max_length, 6) + 1))
    frequencies = (rng.pareto(1.0, n) * 100).astype(np.int64) + 1
    lengths = code_lengths(frequencies, max_length)
    assert cost(frequencies, lengths) == best_cost_brute_force(frequencies, max_length)


@pytest.mark.parametrize("max_length", [8, 12, 15, 16])
def test_length_limit_on_fibonacci_frequencies(max_length):
    """Fibonacci counts make unlimited Huffman a chain as deep as the alphabet is long."""
    fib = [1, 1]
    while len(fib) < 30:
        fib.append(fib[-1] + fib[-2])
    frequencies = np.array(fib, dtype=np.int64)
    assert huffman_lengths_reference(frequencies).max() == 29
    lengths = code_lengths(frequencies, max_length)
    assert lengths.max() == max_length
    assert kraft_sum(lengths) == 1
    # Longer codes for rarer symbols.
    assert np.all(np.diff(lengths.astype(int)) <= 0)
    symbols = np.repeat(np.arange(30, dtype=np.uint8), 3)
    payload, n_bits = huffman_encode(symbols, lengths)
    np.testing.assert_array_equal(huffman_decode(payload, symbols.size, lengths, n_bits), symbols)


def test_code_lengths_degenerate_cases():
    np.testing.assert_array_equal(code_lengths(np.zeros(5, np.int64)), [0] * 5)
    np.testing.assert_array_equal(code_lengths(np.zeros(0, np.int64)), np.zeros(0))
    np.testing.assert_array_equal(code_lengths(np.array([0, 0, 7, 0])), [0, 0, 1, 0])
    np.testing.assert_array_equal(code_lengths(np.array([3, 9]), 1), [1, 1])
    assert code_lengths(np.ones(4096, np.int64), 12).max() == 12
    with pytest.raises(ValueError, match="do not fit"):
        code_lengths(np.ones(4097, np.int64), 12)
    with pytest.raises(ValueError, match="max_length"):
        code_lengths(np.ones(3, np.int64), MAX_CODE_LENGTH + 1)
    with pytest.raises(ValueError, match="non-negative"):
        code_lengths(np.array([1, -1]))
    with pytest.raises(ValueError, match="integers"):
        code_lengths(np.array([0.5, 1.5]))


def test_code_lengths_are_deterministic_on_ties():
    frequencies = np.array([5, 5, 5, 5, 5, 5])
    np.testing.assert_array_equal(code_lengths(frequencies), [3, 3, 3, 3, 2, 2])


# --- canonical codes and Kraft --------------------------------------------------------------


def test_canonical_codes_rfc1951_example():
    """RFC 1951 §3.2.2: lengths (3,3,3,3,3,2,4,4) give 010 011 100 101 110 00 1110 1111."""
    codes = canonical_codes(np.array([3, 3, 3, 3, 3, 2, 4, 4]))
    np.testing.assert_array_equal(codes, [0b010, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111])


def test_kraft_and_validation():
    assert kraft_sum(np.array([1, 2, 3, 3])) == 1
    assert kraft_sum(np.array([1, 0, 0])) == Fraction(1, 2)
    assert kraft_sum(np.array([], dtype=np.uint8)) == 0
    with pytest.raises(ValueError, match="Kraft"):
        validate_lengths(np.array([1, 1, 1]))
    with pytest.raises(ValueError, match=r"0\.\.16"):
        validate_lengths(np.array([17, 1]))
    with pytest.raises(ValueError, match="1-D"):
        validate_lengths(np.ones((2, 2), np.uint8))


# --- encoding and decoding ------------------------------------------------------------------


@st.composite
def streams(draw):
    alphabet = draw(st.sampled_from([1, 2, 3, 16, 32, 256, 300]))
    n = draw(st.integers(0, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = rng.pareto(draw(st.sampled_from([0.3, 1.0, 3.0])), alphabet) + 1e-3
    dtype = np.uint8 if alphabet <= 256 and draw(st.booleans()) else np.uint16
    symbols = rng.choice(alphabet, size=n, p=weights / weights.sum()).astype(dtype)
    frequencies = np.bincount(symbols, minlength=alphabet)
    if n == 0 or draw(st.booleans()):
        frequencies = frequencies + 1  # codes for symbols that do not occur, too
    max_length = draw(st.integers(9, MAX_CODE_LENGTH))
    return symbols, code_lengths(frequencies, max_length)


@settings(max_examples=300, deadline=None)
@given(streams())
def test_encode_matches_reference_and_round_trips(case):
    symbols, lengths = case
    payload, n_bits = huffman_encode(symbols, lengths)
    want_payload, want_bits = huffman_encode_reference(symbols, lengths)
    assert n_bits == want_bits
    assert payload.dtype == np.uint8 and payload.tobytes() == want_payload
    decoded = huffman_decode(payload, symbols.size, lengths, n_bits)
    np.testing.assert_array_equal(decoded, symbols)
    assert decoded.dtype == (np.uint8 if lengths.size <= 256 else np.uint16)
    np.testing.assert_array_equal(huffman_decode_reference(payload, symbols.size, lengths), symbols)
    # Without n_bits, and from bytes, the decoder reads the same symbols.
    np.testing.assert_array_equal(huffman_decode(bytes(payload), symbols.size, lengths), symbols)


def test_incomplete_code_round_trip():
    lengths = np.array([2, 0, 3, 3, 4], dtype=np.uint8)  # Kraft 1/4 + 1/8 + 1/8 + 1/16 < 1
    symbols = np.array([0, 2, 3, 4, 4, 0, 2], dtype=np.uint8)
    payload, n_bits = huffman_encode(symbols, lengths)
    assert n_bits == 2 + 3 + 3 + 4 + 4 + 2 + 3
    np.testing.assert_array_equal(huffman_decode(payload, 7, lengths, n_bits), symbols)


def test_one_distinct_symbol_costs_one_bit_each():
    symbols = np.full(1000, 9, dtype=np.uint8)
    lengths = code_lengths(np.bincount(symbols, minlength=16))
    assert lengths[9] == 1 and lengths.sum() == 1
    payload, n_bits = huffman_encode(symbols, lengths)
    assert n_bits == 1000 and payload.size == 125 and not payload.any()
    np.testing.assert_array_equal(huffman_decode(payload, 1000, lengths, n_bits), symbols)


def test_empty_stream():
    lengths = code_lengths(np.zeros(16, np.int64))
    payload, n_bits = huffman_encode(np.zeros(0, np.uint8), lengths)
    assert n_bits == 0 and payload.size == 0 and payload.dtype == np.uint8
    assert huffman_decode(payload, 0, lengths, 0).shape == (0,)
    assert huffman_decode(b"", 0, np.zeros(0, np.uint8)).shape == (0,)
    with pytest.raises(ValueError, match="empty code table"):
        huffman_decode(b"\x00", 1, lengths)


def test_encode_rejects_symbols_without_code():
    lengths = np.array([1, 0, 1], dtype=np.uint8)
    with pytest.raises(ValueError, match="symbol 1 at position 2"):
        huffman_encode(np.array([0, 2, 1], np.uint8), lengths)
    with pytest.raises(ValueError, match="symbol 3 at position 0"):
        huffman_encode(np.array([3], np.uint8), lengths)
    with pytest.raises(ValueError, match="symbol 40000"):
        huffman_encode(np.array([0, 40000], np.uint16), lengths)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        huffman_encode(np.array([0, 1], np.int64), lengths)


def test_decode_rejects_corrupt_payloads():
    lengths = np.array([1, 2, 0, 0], dtype=np.uint8)  # codes 0 and 10; 11 is no code
    with pytest.raises(ValueError, match="no code"):
        huffman_decode(np.array([0b11000000], np.uint8), 1, lengths)
    symbols = np.array([0, 1, 1, 0, 0], dtype=np.uint8)
    payload, n_bits = huffman_encode(symbols, lengths)
    assert n_bits == 7
    with pytest.raises(ValueError, match="used 7 bits"):
        huffman_decode(payload, 5, lengths, n_bits + 1)
    with pytest.raises(ValueError, match="does not fit"):
        huffman_decode(payload, 5, lengths, 9)
    with pytest.raises(ValueError, match="at least"):
        huffman_decode(payload, 9, lengths)
    # More symbols than the payload holds: the decoder runs out of bits.
    with pytest.raises(ValueError, match="too short"):
        huffman_decode(payload, 7, lengths, n_bits)
    long_codes = code_lengths(np.array([2**k for k in range(16)]), 15)
    payload, n_bits = huffman_encode(np.zeros(40, np.uint8), long_codes)  # 15 bits each
    with pytest.raises(ValueError, match="too short"):
        huffman_decode(payload[:-10], 40, long_codes)


@pytest.mark.parametrize(
    ("name", "symbols"),
    [
        ("normal 16, sigma 2.5 (the issue's)", normal_symbols(1_000_000, 16, 2.5, seed=0)),
        ("normal 32, sigma 5", normal_symbols(1_000_000, 32, 5.0, seed=1)),
        (
            "geometric 32, ratio 0.85",
            np.minimum(np.random.default_rng(2).geometric(0.15, 1_000_000) - 1, 31).astype(
                np.uint8
            ),
        ),
    ],
)
def test_payload_within_one_percent_of_entropy(name, symbols):
    lengths = code_lengths(np.bincount(symbols, minlength=32))
    payload, n_bits = huffman_encode(symbols, lengths)
    entropy = entropy_bits(symbols)
    assert entropy * symbols.size <= n_bits <= 1.01 * entropy * symbols.size, name
    assert payload.size == (n_bits + 7) // 8
    np.testing.assert_array_equal(huffman_decode(payload, symbols.size, lengths, n_bits), symbols)


def test_entropy_bits():
    assert entropy_bits(np.zeros(0, np.uint8)) == 0.0
    assert entropy_bits(np.array([3, 3, 3])) == 0.0
    assert entropy_bits(np.array([0, 1, 2, 3])) == pytest.approx(2.0)
