"""Relative index in CSC order against EIE's example and a slow reference; round trips."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepzip.core.relative_index import (
    RelativeIndex,
    decode_column_major,
    decode_csc,
    encode_column_major,
    encode_column_major_reference,
    encode_csc,
    entry_rows,
)


def assert_same_index(got: RelativeIndex, want: RelativeIndex) -> None:
    assert got.shape == want.shape
    assert got.index_bits == want.index_bits
    assert got.filler_code == want.filler_code
    assert got.entries.dtype == want.entries.dtype
    assert got.gaps.dtype == np.uint8
    assert got.col_ptr.dtype == np.int64
    np.testing.assert_array_equal(got.entries, want.entries)
    np.testing.assert_array_equal(got.gaps, want.gaps)
    np.testing.assert_array_equal(got.col_ptr, want.col_ptr)


def check_round_trip(codes, mask, index_bits, filler_code):
    """Fast encoder == reference encoder, decoding is the identity, structural invariants hold."""
    got = encode_column_major(codes, mask, index_bits, filler_code)
    assert_same_index(got, encode_column_major_reference(codes, mask, index_bits, filler_code))
    back_codes, back_mask = decode_column_major(got)
    np.testing.assert_array_equal(back_mask, mask)
    np.testing.assert_array_equal(back_codes, np.where(mask, codes, 0))
    assert back_codes.dtype == codes.dtype
    max_gap = 2**index_bits - 1
    assert np.all(got.gaps <= max_gap)
    fillers = got.entries == filler_code
    assert np.all(got.gaps[fillers] == max_gap)
    assert got.n_entries - got.n_fillers == mask.sum()
    # The stored rows are the kept positions plus the fillers, column by column.
    rows = entry_rows(got)
    columns = np.repeat(np.arange(mask.shape[1]), np.diff(got.col_ptr))
    kept = ~fillers
    np.testing.assert_array_equal(
        np.stack([columns[kept], rows[kept]]), np.stack(np.nonzero(mask.T))
    )
    assert not np.any(mask[rows[fillers], columns[fillers]])
    # A filler only ever bridges to a later entry of its own column.
    last_of_column = got.col_ptr[1:][np.diff(got.col_ptr) > 0] - 1
    assert not np.any(fillers[last_of_column])
    # From the kept entries in CSC order: the same index, and back.
    cols, kept_rows = np.nonzero(mask.T)
    col_ptr = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=mask.shape[1]))])
    kept_codes = codes[kept_rows, cols]
    from_csc = encode_csc(
        col_ptr.astype(np.int64), kept_rows.astype(np.int64), kept_codes, mask.shape[0],
        index_bits, filler_code,
    )  # fmt: skip
    assert_same_index(from_csc, got)
    back = decode_csc(got)
    np.testing.assert_array_equal(back[0], col_ptr)
    np.testing.assert_array_equal(back[1], kept_rows)
    np.testing.assert_array_equal(back[2], kept_codes)
    assert back[2].dtype == codes.dtype
    return got


def test_eie_example_exactly():
    """EIE §III-B: [0,0,1,2, 18 zeros, 3] with 4-bit gaps is v=[1,2,0,3], z=[2,0,15,2]."""
    column = np.array([0, 0, 1, 2] + [0] * 18 + [3], dtype=np.uint8)[:, None]
    index = encode_column_major(column, column != 0, index_bits=4, filler_code=0)
    np.testing.assert_array_equal(index.entries, [1, 2, 0, 3])
    np.testing.assert_array_equal(index.gaps, [2, 0, 15, 2])
    np.testing.assert_array_equal(index.col_ptr, [0, 4])
    assert index.n_fillers == 1
    codes, mask = decode_column_major(index)
    np.testing.assert_array_equal(codes, column)
    np.testing.assert_array_equal(mask, column != 0)


@pytest.mark.parametrize("index_bits", range(1, 9))
@pytest.mark.parametrize("extra", [-1, 0, 1])
@pytest.mark.parametrize("periods", [1, 2, 3])
def test_gap_boundaries(index_bits, extra, periods):
    """A run of periods * 2**b + extra zeros before one kept entry, and the same between two."""
    span = 2**index_bits
    zeros = periods * span + extra
    rows = 2 * zeros + 2
    codes = np.full((rows, 1), 7, dtype=np.uint8)
    mask = np.zeros((rows, 1), dtype=bool)
    mask[zeros, 0] = mask[2 * zeros + 1, 0] = True
    index = check_round_trip(codes, mask, index_bits, filler_code=0)
    fillers_per_gap = zeros // span
    assert index.n_fillers == 2 * fillers_per_gap
    remainder = zeros - fillers_per_gap * span
    real_gaps = index.gaps[index.entries != 0]
    np.testing.assert_array_equal(real_gaps, [remainder, remainder])


@pytest.mark.parametrize(
    "shape", [(0, 0), (0, 5), (5, 0), (1, 1), (1, 7), (7, 1), (40, 3), (3, 40)]
)
@pytest.mark.parametrize("fill", ["empty", "dense", "random"])
@pytest.mark.parametrize("index_bits", [2, 5, 8])
def test_awkward_shapes(shape, fill, index_bits):
    rng = np.random.default_rng(hash((shape, fill, index_bits)) % 2**32)
    codes = rng.integers(1, 32, size=shape, dtype=np.uint8)
    if fill == "empty":
        mask = np.zeros(shape, dtype=bool)
    elif fill == "dense":
        mask = np.ones(shape, dtype=bool)
    else:
        mask = rng.random(shape) < 0.1
    index = check_round_trip(codes, mask, index_bits, filler_code=0)
    if fill == "empty":
        assert index.n_entries == 0
        np.testing.assert_array_equal(index.col_ptr, np.zeros(shape[1] + 1))
    if fill == "dense":
        assert index.n_fillers == 0
        assert np.all(index.gaps == 0)


def test_empty_columns_between_full_ones():
    codes = np.arange(1, 25, dtype=np.uint16).reshape(4, 6)
    mask = np.zeros((4, 6), dtype=bool)
    mask[:, [0, 3]] = True
    mask[3, 5] = True
    index = check_round_trip(codes, mask, 2, filler_code=0)
    np.testing.assert_array_equal(index.col_ptr, [0, 4, 4, 4, 8, 8, 9])
    np.testing.assert_array_equal(index.entries[-1], codes[3, 5])
    np.testing.assert_array_equal(index.gaps[-1], 3)


@st.composite
def sparse_matrices(draw):
    rows = draw(st.integers(0, 70))
    cols = draw(st.integers(0, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.0, 0.01, 0.05, 0.3, 0.9, 1.0]))
    wide = draw(st.booleans())
    dtype = np.uint16 if wide else np.uint8
    rng = np.random.default_rng(seed)
    filler_code = draw(st.integers(0, 3))
    codes = rng.integers(0, 1000 if wide else 256, size=(rows, cols)).astype(dtype)
    mask = rng.random((rows, cols)) < density
    codes[mask & (codes == filler_code)] = filler_code + 1
    return codes, mask, draw(st.integers(1, 8)), filler_code


@settings(max_examples=300, deadline=None)
@given(sparse_matrices())
def test_round_trip_matches_reference(case):
    check_round_trip(*case)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(3)
    codes = rng.integers(1, 16, size=(50, 60), dtype=np.uint8)
    mask = rng.random((50, 60)) < 0.05
    check_round_trip(codes[::2, 1::3], mask[::2, 1::3], 3, 0)
    check_round_trip(np.asfortranarray(codes), np.asfortranarray(mask), 3, 0)


def test_large_layer_round_trip():
    """A LeNet-300-100 fc1-sized layer (300 x 784) at 8% density, 5-bit gaps."""
    rng = np.random.default_rng(0)
    codes = rng.integers(1, 32, size=(300, 784), dtype=np.uint8)
    mask = rng.random((300, 784)) < 0.08
    check_round_trip(codes, mask, 5, 0)


def test_rejects_bad_input():
    codes = np.ones((3, 3), dtype=np.uint8)
    mask = np.eye(3, dtype=bool)
    with pytest.raises(ValueError, match="reserved for filler"):
        encode_column_major(codes, mask, 4, filler_code=1)
    with pytest.raises(ValueError, match="index_bits"):
        encode_column_major(codes, mask, 9, filler_code=0)
    with pytest.raises(ValueError, match="index_bits"):
        encode_column_major(codes, mask, 0, filler_code=0)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        encode_column_major(codes.astype(np.int32), mask, 4, filler_code=0)
    with pytest.raises(ValueError, match="bool"):
        encode_column_major(codes, mask.astype(np.uint8), 4, filler_code=0)
    with pytest.raises(ValueError, match="2-D"):
        encode_column_major(codes[0], mask[0], 4, filler_code=0)
    with pytest.raises(ValueError, match="mask shape"):
        encode_column_major(codes, mask[:2], 4, filler_code=0)
    with pytest.raises(ValueError, match="does not fit"):
        encode_column_major(codes, mask, 4, filler_code=256)


def test_decode_rejects_inconsistent_index():
    mask = np.zeros((4, 2), dtype=bool)
    mask[:2, 0] = True  # two entries in column 0, gaps [0, 0]
    good = encode_column_major(np.ones((4, 2), np.uint8), mask, 2, 0)

    def with_(**changes):
        fields = {f: getattr(good, f) for f in good.__dataclass_fields__}
        return RelativeIndex(**{**fields, **changes})

    with pytest.raises(ValueError, match="past row"):
        decode_column_major(with_(gaps=np.array([3, 0], np.uint8)))
    with pytest.raises(ValueError, match="past row"):
        entry_rows(with_(gaps=np.array([3, 0], np.uint8)))
    with pytest.raises(ValueError, match="does not fit in 2 bits"):
        decode_column_major(with_(gaps=np.array([4, 0], np.uint8)))
    with pytest.raises(ValueError, match="col_ptr"):
        decode_column_major(with_(col_ptr=np.array([0, 3, 2], np.int64)))
    with pytest.raises(ValueError, match="col_ptr"):
        decode_column_major(with_(col_ptr=np.array([0, 1], np.int64)))
    with pytest.raises(ValueError, match="gaps"):
        decode_column_major(with_(gaps=np.array([0], np.uint8)))


@pytest.mark.parametrize(
    ("col_ptr", "rows", "codes", "match"),
    [
        ([0, 1], [3], [1], "outside 0..2"),
        ([0, 2], [1, 1], [1, 2], "strictly ascending"),
        ([0, 2], [2, 1], [1, 2], "strictly ascending"),
        ([0, 1], [1], [0], "reserved for filler"),
        ([0, 2], [1], [1], "rise from 0"),
        ([1, 1], [1], [1], "rise from 0"),
    ],
)
def test_encode_csc_rejects_bad_input(col_ptr, rows, codes, match):
    with pytest.raises(ValueError, match=match):
        encode_csc(
            np.array(col_ptr, dtype=np.int64), np.array(rows, dtype=np.int64),
            np.array(codes, dtype=np.uint8), 3, 2, 0,
        )  # fmt: skip


def test_csc_of_a_huge_sparse_matrix_stays_small():
    """Two kept entries of a 10^9-row column: fillers only, no dense matrix."""
    index = encode_csc(
        np.array([0, 0, 2], dtype=np.int64), np.array([5, 3000], dtype=np.int64),
        np.array([1, 2], dtype=np.uint8), 10**9, 8, 0,
    )  # fmt: skip
    assert index.shape == (10**9, 2)
    assert index.n_entries == 2 + (3000 - 6) // 256
    back = decode_csc(index)
    np.testing.assert_array_equal(back[1], [5, 3000])
