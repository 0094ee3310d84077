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
