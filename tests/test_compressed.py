"""The compressed-layer record validates itself and rebuilds the dequantized weight."""

import numpy as np
import pytest

from deepzip.compressed import CompressedLayer, round_to_half


def layer(**kw):
    args = dict(
        name="fc",
        kind="linear",
        codebook=np.array([0.0, -1.0, 2.0], dtype=np.float32),
        codes=np.array([[1, 0], [2, 1]], dtype=np.uint8),
        mask=np.array([[True, False], [True, True]]),
        bias=np.zeros(2, dtype=np.float32),
        weight_bits=2,
        index_bits=5,
    )
    args.update(kw)
    return CompressedLayer(**args)


def test_dense_weight_and_counts():
    lay = layer()
    np.testing.assert_array_equal(lay.dense_weight(), [[-1.0, 0.0], [2.0, -1.0]])
    assert (lay.num_weights, lay.num_kept, lay.density) == (4, 3, 0.75)
    assert not np.signbit(lay.dense_weight()[0, 1])


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"kind": "gru"}, "kind"),
        ({"weight_bits": 1}, "more than 2\\*\\*weight_bits"),
        ({"codes": np.array([[1, 0], [3, 1]], dtype=np.uint8)}, "past the codebook"),
        ({"codebook": np.array([-0.0, -1.0, 2.0], dtype=np.float32)}, "codebook\\[0\\]"),
        ({"codebook": np.array([0.5, -1.0, 2.0], dtype=np.float32)}, "codebook\\[0\\]"),
        ({"codes": np.array([[1, 1], [2, 1]], dtype=np.uint8)}, "0 exactly where"),
        ({"codes": np.array([[0, 0], [2, 1]], dtype=np.uint8)}, "0 exactly where"),
        ({"mask": np.ones((2, 3), dtype=bool)}, "mask shape"),
        ({"bias": np.zeros(3, dtype=np.float32)}, "bias shape"),
        ({"codebook": np.zeros(3)}, "float32"),
        ({"codes": np.array([[1, 0], [2, 1]], dtype=np.int64)}, "uint8 or uint16"),
        ({"kind": "conv2d"}, "4 dimensions"),
    ],
)
def test_invalid_layers_are_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        layer(**kw)


def test_half_values_must_be_float16_values():
    codes = np.array([[1, 0], [2, 1]], dtype=np.uint8)
    exact = dict(
        name="fc", kind="linear", codes=codes, mask=codes != 0, weight_bits=2, index_bits=2
    )
    codebook = np.array([0.0, 0.1, -0.25], dtype=np.float32)  # 0.1 is not a float16
    with pytest.raises(ValueError, match="value_bits 16 needs a codebook"):
        CompressedLayer(codebook=codebook, bias=None, value_bits=16, **exact)
    rounded = round_to_half(codebook)
    assert rounded[1] != codebook[1] and abs(rounded[1] - 0.1) < 1e-4
    CompressedLayer(codebook=rounded, bias=None, value_bits=16, **exact)
    with pytest.raises(ValueError, match="value_bits 16 needs a bias"):
        CompressedLayer(
            codebook=rounded, bias=np.array([0.5, 1e-3], np.float32), value_bits=16, **exact
        )
    with pytest.raises(ValueError, match="value_bits 8 not one of"):
        CompressedLayer(codebook=rounded, bias=None, value_bits=8, **exact)


def sparse(**kw):
    """A 3x2 linear layer from its CSC: column 0 keeps rows 0 and 2, column 1 keeps row 1."""
    args = dict(
        name="fc",
        kind="linear",
        codebook=np.array([0.0, -1.0, 2.0], dtype=np.float32),
        weight_shape=(3, 2),
        col_ptr=np.array([0, 2, 3], dtype=np.int64),
        kept_rows=np.array([0, 2, 1], dtype=np.int64),
        kept_codes=np.array([1, 2, 2], dtype=np.uint8),
        bias=None,
        weight_bits=2,
        index_bits=3,
    )
    args.update(kw)
    return CompressedLayer.from_csc(**args)


def test_from_csc_equals_from_codes():
    lay = sparse()
    dense = CompressedLayer.from_codes(
        "fc", "linear", lay.codebook, lay.codes, lay.mask, None, 2, 3
    )
    np.testing.assert_array_equal(lay.codes, [[1, 0], [0, 2], [2, 0]])
    for a, b in zip(lay.csc(), dense.csc(), strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert (lay.num_kept, lay.num_weights, lay.matrix_shape) == (3, 6, (3, 2))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"kept_codes": np.array([1, 3, 2], np.uint8)}, "past the codebook"),
        ({"kept_codes": np.array([1, 0, 2], np.uint8)}, "code 0"),
        ({"kept_codes": np.array([1, 2, 2], np.int32)}, "uint8 or uint16"),
        ({"kept_rows": np.array([0, 3, 1], np.int64)}, "outside 0..2"),
        ({"kept_rows": np.array([0, -1, 1], np.int64)}, "outside 0..2"),
        ({"kept_rows": np.array([2, 0, 1], np.int64)}, "strictly ascending"),
        ({"kept_rows": np.array([2, 2, 1], np.int64)}, "strictly ascending"),
        ({"kept_rows": np.array([0, 2, 1], np.int32)}, "int64"),
        ({"kept_rows": np.array([0, 2], np.int64)}, "differ"),
        ({"col_ptr": np.array([0, 2, 2], np.int64)}, "rise from 0 to 3"),
        ({"col_ptr": np.array([0, 3, 2], np.int64)}, "rise from 0 to 3"),
        ({"col_ptr": np.array([1, 2, 3], np.int64)}, "rise from 0 to 3"),
        ({"col_ptr": np.array([0, 3], np.int64)}, "col_ptr must be int64 of shape \\(3,\\)"),
        ({"weight_shape": (3, 2, 1)}, "2 dimensions"),
        ({"bias": np.zeros(2, np.float32)}, "bias shape"),
        (
            {"kind": "embedding", "weight_shape": (2, 3), "bias": np.zeros(3, np.float32)},
            "keeps its bias apart",
        ),
        ({"codebook": np.array([1.0, -1.0, 2.0], np.float32)}, "codebook\\[0\\]"),
        ({"codebook": np.array([0.0, 0.1, 2.0], np.float32), "value_bits": 16}, "float16"),
        ({"weight_bits": 1}, "more than 2\\*\\*weight_bits"),
    ],
)
def test_sparse_input_is_validated_as_strictly_as_dense(kw, match):
    with pytest.raises(ValueError, match=match):
        sparse(**kw)


def test_ascending_rows_restart_at_each_column():
    """Row 0 after row 2 is fine when it starts the next column, and empty columns are fine."""
    lay = sparse(weight_shape=(3, 4), col_ptr=np.array([0, 2, 2, 3, 3], np.int64))
    assert lay.codes[:, 2].tolist() == [0, 2, 0]


def test_transposed_kind_csc_is_over_the_matrix_view():
    """An embedding's column is a token: the dense codes are its weight's own shape."""
    codes = np.array([[0, 1, 0], [2, 0, 1]], dtype=np.uint8)  # 2 tokens x 3
    lay = CompressedLayer("emb", "embedding", np.array([0, 1, 2], np.float32), codes, codes != 0,
                          None, 2, 2)  # fmt: skip
    col_ptr, rows, kept = lay.csc()
    np.testing.assert_array_equal(col_ptr, [0, 1, 3])
    np.testing.assert_array_equal(rows, [1, 0, 2])
    np.testing.assert_array_equal(kept, [1, 2, 1])
    np.testing.assert_array_equal(lay.codes, codes)
    assert lay.matrix_shape == (3, 2) and lay.weight_shape == (2, 3)


def test_dataclasses_replace_keeps_working():
    import dataclasses

    lay = sparse()
    assert dataclasses.replace(lay, name="other").num_kept == 3
    codes = np.array([[1, 1], [0, 0], [0, 0]], np.uint8)
    again = dataclasses.replace(lay, codes=codes, mask=codes != 0)
    np.testing.assert_array_equal(again.kept_rows, [0, 0])
