"""Figures are real PNG files with the drawn content, written atomically."""

import numpy as np

from deepzip.report.figures import (
    codebook_figure,
    sensitivity_figure,
    symbol_histograms,
    weight_histograms,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_each_figure_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.1, (100, 50)).astype(np.float32)
    pruned = np.where(np.abs(w) > 0.1, w, 0)
    paths = [
        weight_histograms(w, pruned, "fc1", tmp_path / "a.png"),
        codebook_figure(
            pruned, np.linspace(-0.3, 0.3, 16).astype(np.float32), "fc1", tmp_path / "b.png"
        ),
        symbol_histograms(
            rng.integers(1, 16, 500), rng.integers(0, 32, 500), "fc1", tmp_path / "c.png"
        ),
        sensitivity_figure(
            [0, 0.5, 0.9], {"fc1": [0.98, 0.97, 0.6], "fc2": [0.98, 0.98, 0.9]}, tmp_path / "d.png"
        ),
    ]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG)
        assert len(data) > 5000  # axes, bars and labels, not an empty canvas
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png", "d.png"]
