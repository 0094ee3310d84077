"""benchmarks/published_sizes.py: a published-size network compressed at the stated setting,
written, inspected and run by the engine at its published resolution (no timing is asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import published_sizes
from deepzip.container import read_dzip


def test_squeezenet_1_1_at_the_stated_setting(tmp_path):
    row = published_sizes.measure("squeezenet-1.1", threads=1, repeat=1, directory=tmp_path)
    assert row["parameters"] == 1_235_496 and row["input_shape"] == [1, 3, 224, 224]
    assert row["output_shape"] == [1, 1000]
    assert row["output_difference"] <= 1e-4  # the engine on the file = the compressed model
    path = tmp_path / "squeezenet-1.1.dzip"
    assert row["file_bytes"] == path.stat().st_size
    layers = read_dzip(path).layers
    kept = sum(layer.num_kept for layer in layers) / sum(layer.codes.size for layer in layers)
    assert kept == pytest.approx(published_sizes.KEPT, abs=0.01)
    assert max(len(layer.codebook) for layer in layers) <= 2**published_sizes.BITS
    assert row["inspect"]["total"]["weights"] == sum(layer.codes.size for layer in layers)
