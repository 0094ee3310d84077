"""Golden files pin the format: they must decode to their models, and the writer must still
produce them byte for byte. The worked example of docs/FORMAT.md is the first of them."""

import re
from pathlib import Path

import pytest
from dzip_examples import GOLDEN, GOLDEN_MODELS, assert_models_equal

from deepzip.container import dzip_bytes, dzip_sizes, read_dzip

FORMAT_MD = Path(__file__).resolve().parents[2] / "docs" / "FORMAT.md"


@pytest.mark.parametrize("filename", list(GOLDEN_MODELS))
def test_golden_file_decodes_to_its_model(filename):
    assert_models_equal(read_dzip(GOLDEN / filename), GOLDEN_MODELS[filename]())


@pytest.mark.parametrize("filename", list(GOLDEN_MODELS))
def test_writer_reproduces_golden_file(filename):
    assert dzip_bytes(GOLDEN_MODELS[filename]()) == (GOLDEN / filename).read_bytes()


def test_format_md_worked_example_is_the_golden_file():
    text = FORMAT_MD.read_text(encoding="utf-8")
    block = re.search(r"```hex\n(.*?)```", text, re.DOTALL).group(1)
    assert bytes.fromhex(block) == (GOLDEN / "worked_example.dzip").read_bytes()


def test_worked_example_sizes():
    sizes = dzip_sizes(GOLDEN / "worked_example.dzip")
    (layer,) = sizes.layers
    assert (layer.n_entries, layer.n_fillers, layer.n_kept) == (3, 1, 2)
    assert (layer.huffman_code_bits, layer.huffman_index_bits) == (5, 3)
    assert (layer.header_bytes, layer.codebook_bytes, layer.bias_bytes) == (15, 12, 24)
    assert (layer.table_bytes, layer.pointer_bytes, layer.code_bytes, layer.index_bytes) == (
        4,
        1,
        1,
        1,
    )
    assert (sizes.header_bytes, sizes.network_bytes, sizes.checksum_bytes) == (15, 0, 8)
    assert sizes.total_bytes == sizes.file_bytes == 82
