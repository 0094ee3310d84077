"""The engine layout: rows interleaved over PEs, per-PE CSC with relative indices (EIE Fig. 3)."""

import numpy as np
import pytest
from engine_helpers import make_layer, random_layer

from deepzip.core.relative_index import encode_column_major
from deepzip.engine import EngineLayer


def decode(layer: EngineLayer) -> tuple[np.ndarray, np.ndarray]:
    """Rebuild (codes, mask) of the whole matrix from the per-PE layout, the slow way."""
    rows, cols = layer.shape
    codes = np.zeros((rows, cols), dtype=np.int64)
    stored = np.zeros((rows, cols), dtype=bool)
    entry_codes, entry_gaps = layer.entry_codes(), layer.entry_gaps()
    for p in range(layer.pes):
        for j in range(cols):
            local = -1
            for k in range(layer.col_ptr[p, j], layer.col_ptr[p, j + 1]):
                local += int(entry_gaps[k]) + 1
                row = local * layer.pes + p
                assert row < rows
                codes[row, j] = entry_codes[k]
                stored[row, j] |= entry_codes[k] != 0
    return codes, stored


CASES = [
    # rows, cols, density, weight_bits, index_bits, pes
    (1, 1, 1.0, 4, 4, 1),
    (1, 9, 0.5, 4, 4, 3),
    (9, 1, 0.5, 4, 4, 2),
    (37, 53, 0.1, 4, 4, 2),
    (37, 53, 0.02, 4, 2, 4),  # many fillers
    (64, 40, 0.3, 5, 5, 2),  # split: 5-bit codes, 5-bit gaps
    (30, 20, 0.4, 3, 5, 2),  # packed: 3 + 5 bits
    (20, 30, 0.4, 9, 3, 3),  # split: uint16 codes
    (3, 17, 0.6, 4, 4, 8),  # more PEs than rows
    (25, 25, 1.0, 2, 1, 5),  # fully dense, 1-bit gaps
]


@pytest.mark.parametrize(("rows", "cols", "density", "wbits", "ibits", "pes"), CASES)
def test_layout_decodes_to_the_layer(rows, cols, density, wbits, ibits, pes):
    rng = np.random.default_rng(rows * 1000 + cols)
    compressed = random_layer(rng, rows, cols, density, wbits, ibits, empty_columns=cols // 4)
    layer = EngineLayer.from_compressed(compressed, pes)
    codes, stored = decode(layer)
    matrix = compressed.matrix_codes()
    np.testing.assert_array_equal(codes, matrix)
    np.testing.assert_array_equal(stored, matrix != 0)
    assert layer.shape == (rows, cols)
    assert layer.local_rows == -(-rows // pes)
    assert layer.entry_gaps().max(initial=0) < 2**ibits
    # Per PE, the encoding is core's relative index of the PE's rows, fillers included.
    for p in range(pes):
        expected = encode_column_major(matrix[p::pes], matrix[p::pes] != 0, ibits, 0)
        lo, hi = layer.col_ptr[p, 0], layer.col_ptr[p, -1]
        np.testing.assert_array_equal(layer.entry_codes()[lo:hi], expected.entries)
        np.testing.assert_array_equal(layer.entry_gaps()[lo:hi], expected.gaps)
        np.testing.assert_array_equal(layer.col_ptr[p] - lo, expected.col_ptr)
    assert layer.n_entries - layer.n_fillers == compressed.num_kept
    assert layer.pe_entries().sum() == layer.n_entries


def test_dtypes_follow_the_bit_widths():
    rng = np.random.default_rng(0)
    packed = EngineLayer.from_compressed(random_layer(rng, 20, 20, 0.3, 4, 4), 2)
    assert packed.packed and packed.entries.dtype == np.uint8 and packed.gaps is None
    assert packed.col_ptr.dtype == np.int32 and packed.col_ptr.shape == (2, 21)
    split8 = EngineLayer.from_compressed(random_layer(rng, 20, 20, 0.3, 5, 5), 2)
    assert not split8.packed
    assert split8.entries.dtype == np.uint8 and split8.gaps.dtype == np.uint8
    split16 = EngineLayer.from_compressed(random_layer(rng, 20, 20, 0.3, 10, 4), 2)
    assert split16.entries.dtype == np.uint16 and split16.gaps.dtype == np.uint8


def test_eie_relative_index_example_within_one_pe():
    # EIE §III-B: a column [0, 0, 1, 2, 0 x 18, 3] with 4-bit gaps is v = [1, 2, 0, 3],
    # z = [2, 0, 15, 2]. With 2 PEs and the column on PE 0's local rows it is the same.
    column = np.array([0, 0, 1, 2] + [0] * 18 + [3], dtype=np.uint8)
    codes = np.zeros((2 * column.size, 1), dtype=np.uint8)
    codes[0::2, 0] = column
    layer = make_layer("fc", "linear", np.arange(4, dtype=np.float32), codes, None, 4, 4)
    engine = EngineLayer.from_compressed(layer, 2)
    np.testing.assert_array_equal(engine.entry_codes()[:4], [1, 2, 0, 3])
    np.testing.assert_array_equal(engine.entry_gaps()[:4], [2, 0, 15, 2])
    assert engine.entries[2] == 0xF0  # the filler: code 0, gap 15 in one byte
    assert engine.col_ptr.tolist() == [[0, 4], [4, 4]]


def test_conv_weight_is_flattened_and_groups_slice_rows():
    rng = np.random.default_rng(1)
    flat = random_layer(rng, 6, 3 * 2 * 2, 0.5)
    codes = flat.matrix_codes()
    conv = make_layer("conv", "conv2d", flat.codebook, codes.reshape(6, 3, 2, 2), flat.bias)
    layer = EngineLayer.from_compressed(conv, 2)
    assert layer.shape == (6, 12)
    np.testing.assert_array_equal(decode(layer)[0], codes)
    group = EngineLayer.from_compressed(conv, 2, rows=slice(3, 6))
    assert group.shape == (3, 12)
    np.testing.assert_array_equal(decode(group)[0], codes[3:6])
    np.testing.assert_array_equal(group.bias, flat.bias[3:6])


@pytest.mark.parametrize("pes", [1, 3, 8])
def test_blocks_of_columns_and_rows(pes):
    # A transposed convolution's group is a block of columns; an embedding's matrix is the
    # transposed table. Blocks come out as the same block of the matrix view.
    rng = np.random.default_rng(pes)
    weight = np.zeros((6, 2, 3, 3), dtype=np.uint8)  # (in, out / groups, kh, kw)
    kept = rng.random(weight.shape) < 0.4
    weight[kept] = rng.integers(1, 16, int(kept.sum()))
    codebook = np.linspace(0, 1, 16, dtype=np.float32)
    layer = make_layer("up", "conv_transpose2d", codebook, weight, None, 4, 2)
    matrix = layer.matrix_codes()
    assert matrix.shape == (18, 6)
    for cols in (slice(0, 3), slice(3, 6), slice(2, 2)):
        block = EngineLayer.from_compressed(layer, pes, cols=cols)
        np.testing.assert_array_equal(decode(block)[0], matrix[:, cols])
    block = EngineLayer.from_compressed(layer, pes, rows=slice(5, 17), cols=slice(1, 4))
    np.testing.assert_array_equal(decode(block)[0], matrix[5:17, 1:4])
    with pytest.raises(ValueError, match="step 1"):
        EngineLayer.from_compressed(layer, pes, cols=slice(0, 6, 2))


class _SparseOnly:
    """A compressed layer reduced to the interface the engine may use: no dense codes or mask."""

    def __init__(self, layer):
        self.name, self.codebook, self.bias = layer.name, layer.codebook, layer.bias
        self.weight_bits, self.index_bits = layer.weight_bits, layer.index_bits
        self.matrix_shape = layer.matrix_shape
        self._csc = layer.csc()

    def csc(self):
        return self._csc


def test_layout_is_built_from_the_kept_weights_only():
    rng = np.random.default_rng(9)
    layer = random_layer(rng, 23, 31, 0.2, 4, 3, empty_columns=4)
    want = EngineLayer.from_compressed(layer, 3)
    got = EngineLayer.from_compressed(_SparseOnly(layer), 3)
    for name in ("entries", "col_ptr", "bias", "codebook"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    np.testing.assert_array_equal(decode(got)[0], layer.matrix_codes())


def test_memory_bound_for_4_bit_layers():
    rng = np.random.default_rng(2)
    layer = EngineLayer.from_compressed(random_layer(rng, 400, 300, 0.09, 4, 4, bias=False), 2)
    pointers = 2 * 301 * 4
    assert layer.resident_bytes == layer.n_entries + pointers + layer.codebook.nbytes
    assert layer.resident_bytes <= layer.memory_bound_bytes


def test_bad_pes():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="pes"):
        EngineLayer.from_compressed(random_layer(rng, 4, 4, 0.5), 0)


def test_corrupt_layouts_are_rejected():
    # The kernels trust the layout; a layout that would index out of bounds must not exist.
    import dataclasses

    rng = np.random.default_rng(4)
    good = EngineLayer.from_compressed(random_layer(rng, 10, 6, 0.5), 2)
    past_last_row = good.entries.copy()
    past_last_row[-1] |= 0xF0  # the last entry's gap jumps past the PE's last row
    bad_pointers = good.col_ptr.copy()
    bad_pointers[1, 3] = good.n_entries + 5
    bad_codebook = good.codebook[:2].copy()  # codes up to 15 point past it
    for change, message in [
        ({"entries": past_last_row}, "PE 1, column 5"),
        ({"col_ptr": bad_pointers}, "PE 1, column 2"),
        ({"codebook": bad_codebook}, "code past the codebook"),
        ({"col_ptr": good.col_ptr[:, :-1].copy()}, "col_ptr"),
        ({"gaps": good.entries.copy()}, "packed"),
        ({"entries": good.entries.astype(np.uint16)}, "entries"),
        ({"bias": np.zeros(3, np.float32)}, "bias"),
        ({"codebook": good.codebook + 1}, "codebook"),
    ]:
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(good, **change)
