"""The parts dzip_sizes reports add up to the file, and for LeNet-300-100 and LeNet-5 compressed
as in Deep Compression (Tables 2 and 3) headers, tables and checksum take under 2% of it."""

import pytest
from dzip_examples import lenet5, lenet_300_100

from deepzip.container import dzip_bytes, dzip_sizes


@pytest.mark.parametrize("build", [lenet_300_100, lenet5])
def test_overhead_under_two_percent(build):
    model = build()
    data = dzip_bytes(model)
    sizes = dzip_sizes(data)
    assert sizes.total_bytes == sizes.file_bytes == len(data)
    assert sizes.overhead_bytes < 0.02 * len(data)
    for layer, part in zip(model.layers, sizes.layers):
        assert part.name == layer.name and part.weight_shape == layer.weight_shape
        assert (part.n_weights, part.n_kept) == (layer.num_weights, layer.num_kept)
        assert part.fixed_code_bits == part.n_entries * layer.weight_bits
        assert part.fixed_index_bits == part.n_entries * layer.index_bits
        assert part.code_bytes == (part.huffman_code_bits + 7) // 8
        assert part.index_bytes == (part.huffman_index_bits + 7) // 8
        assert part.codebook_bytes == 4 * len(layer.codebook)
        assert part.bias_bytes == 4 * layer.weight_shape[0]


def test_lenet_300_100_overhead_is_small_in_bytes():
    """The budget behind the 2%: header, network, layer headers, tables and checksum of a
    three-layer file stay well under 500 bytes."""
    assert dzip_sizes(dzip_bytes(lenet_300_100())).overhead_bytes < 300
