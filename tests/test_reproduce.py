"""A shortened reproduction on a subset of real MNIST, end to end through the .dzip file."""

import json
from dataclasses import replace

import numpy as np
import pytest

from deepzip.container import read_dzip
from deepzip.data import load_mnist_dir
from deepzip.pipeline import PipelineError
from deepzip.reproduce import RECIPES, reproduce
from deepzip.training import TensorData, TrainConfig


@pytest.mark.mnist
def test_short_reproduction_file_and_engine_agree(mnist_dir, tmp_path):
    m = load_mnist_dir(mnist_dir)
    data = TensorData.from_arrays(
        m.train_images, m.train_labels, m.test_images, m.test_labels
    ).subset(3000, 1000)
    full = RECIPES["lenet-300-100"]

    def shortened(point):
        return replace(
            point, steps=1, retrain_epochs=1, final_retrain_epochs=None, finetune_epochs=1
        )

    short = replace(
        full,
        baseline=TrainConfig(epochs=2, lr=0.05),
        paper_point=shortened(full.paper_point),
        beyond_point=shortened(full.beyond_point),
    )
    out = tmp_path / "lenet.dzip"
    summary = reproduce(
        "lenet-300-100", data, tmp_path / "work", out, tmp_path / "figs", recipe=short
    )
    for name, path in (("paper", out), ("beyond", tmp_path / "lenet-beyond.dzip")):
        entry = summary["points"][name]
        assert path.is_file() and entry["file_bytes"] == path.stat().st_size
        back = read_dzip(path)
        kept = {layer.name: layer.density for layer in back.layers}
        for layer, sparsity in short.point(name).sparsity.items():
            assert kept[layer] == pytest.approx(1 - sparsity, abs=1e-3)
        # The engine running the file classifies exactly as the PyTorch model did.
        assert entry["error"] == pytest.approx(entry["torch_error"], abs=1e-12)
        assert entry["ratio"] == pytest.approx(entry["dense_bytes"] / entry["file_bytes"])
    assert summary["points"]["beyond"]["ratio"] > summary["points"]["paper"]["ratio"]
    assert {"error", "baseline_error", "file_bytes", "dense_bytes", "ratio"} <= set(summary)
    pngs = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert "lenet-300-100-sensitivity.png" in pngs
    assert "lenet-fc1-codebook.png" in pngs and "lenet-beyond-fc1-huffman.png" in pngs


def test_work_dir_of_another_baseline_is_refused_unless_restarted(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (64, 28, 28)).astype(np.uint8)
    labels = np.arange(64) % 10
    data = TensorData.from_arrays(images, labels, images[:32], labels[:32])
    full = RECIPES["lenet-300-100"]
    tiny = replace(
        full,
        baseline=TrainConfig(epochs=1, lr=0.05),
        paper_point=replace(
            full.paper_point,
            steps=1,
            retrain_epochs=0,
            final_retrain_epochs=None,
            finetune_epochs=0,
        ),
    )
    work, out = tmp_path / "work", tmp_path / "net.dzip"
    reproduce("lenet-300-100", data, work, out, points=("paper",), recipe=tiny)
    assert json.loads((work / "recipe.json").read_text())["baseline"]["epochs"] == 1
    other = replace(tiny, baseline=TrainConfig(epochs=2, lr=0.05))
    with pytest.raises(PipelineError, match="other settings"):
        reproduce("lenet-300-100", data, work, out, points=("paper",), recipe=other)
    summary = reproduce(
        "lenet-300-100", data, work, out, points=("paper",), recipe=other, restart=True
    )
    assert json.loads((work / "recipe.json").read_text())["baseline"]["epochs"] == 2
    assert summary["file_bytes"] == out.stat().st_size
