"""The layer-kind registry: each kind's matrix view round-trips, has the shape it announces, and
puts in one column the weights one input meets."""

import numpy as np
import pytest

from deepzip.kinds import KINDS, kind, layer_name, parameter_name, weight_name

SHAPES = {
    "linear": [(3, 5), (1, 1), (0, 4), (4, 0)],
    "conv2d": [(6, 2, 3, 3), (4, 1, 3, 3), (2, 0, 1, 1)],
    "conv1d": [(6, 2, 3), (1, 1, 1), (3, 0, 2)],
    "conv_transpose2d": [(4, 3, 2, 2), (2, 1, 3, 1), (0, 2, 2, 2)],
    "embedding": [(10, 4), (1, 1), (0, 3)],
    "lstm": [(16, 3), (8, 2)],
}


@pytest.mark.parametrize(("name", "shape"), [(k, s) for k, v in SHAPES.items() for s in v])
def test_matrix_view_round_trips_and_has_the_announced_shape(name, shape):
    entry = kind(name)
    weight = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    matrix = entry.to_matrix(weight)
    assert matrix.shape == entry.matrix_shape(shape)
    np.testing.assert_array_equal(entry.from_matrix(matrix, shape), weight)


def test_every_kind_has_shapes_under_test():
    assert set(SHAPES) == set(KINDS)


def test_transposed_kinds_put_one_input_in_a_column():
    emb = np.arange(12).reshape(4, 3)  # 4 tokens of 3 values
    np.testing.assert_array_equal(kind("embedding").to_matrix(emb)[:, 2], emb[2])
    deconv = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)  # (in, out / groups, kh, kw)
    np.testing.assert_array_equal(
        kind("conv_transpose2d").to_matrix(deconv)[:, 1], deconv[1].ravel()
    )
    conv = np.arange(2 * 3 * 2).reshape(2, 3, 2)  # (out, in, k): row = output channel
    np.testing.assert_array_equal(kind("conv1d").to_matrix(conv)[1], conv[1].ravel())


def test_matrix_shape_of_a_huge_weight_allocates_nothing():
    assert kind("embedding").matrix_shape((10**12, 10**6)) == (10**6, 10**12)


def test_codes_are_unique_and_kind_names_match():
    assert len({k.code for k in KINDS.values()}) == len(KINDS)
    assert all(k.name == name for name, k in KINDS.items())


@pytest.mark.parametrize(
    ("kind_name", "module", "param", "layer", "state_dict"),
    [
        ("linear", "fc1", "weight", "fc1", "fc1.weight"),
        ("embedding", "enc.emb", "weight", "enc.emb", "enc.emb.weight"),
        ("lstm", "rnn", "weight_hh_l1_reverse", "rnn.weight_hh_l1_reverse",
         "rnn.weight_hh_l1_reverse"),
    ],
)  # fmt: skip
def test_layer_names_and_state_dict_names(kind_name, module, param, layer, state_dict):
    assert layer_name(module, param) == layer
    assert weight_name(kind_name, layer) == state_dict == parameter_name(module, param)
