"""RESULTS.md's four files (written by the version-1 writer) read with the current reader and run
by the current engine give the errors and sizes RESULTS.md records, on the whole MNIST test set;
and the same models written as a rerun would write them (version 2, the network captured from the
model) run identically."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deepzip.capture import capture
from deepzip.compressed import CompressedModel
from deepzip.container import dzip_bytes, read_dzip
from deepzip.data.mnist import load_mnist_dir
from deepzip.engine import Engine
from deepzip.models import lenet_5, lenet_300_100

RESULTS = Path(__file__).resolve().parents[1] / "results"
FILES = [
    ("lenet-300-100", "paper", lenet_300_100),
    ("lenet-300-100", "beyond", lenet_300_100),
    ("lenet-5", "paper", lenet_5),
    ("lenet-5", "beyond", lenet_5),
]


def errors(engine: Engine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    outputs = np.concatenate([engine.run(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    return outputs, float((outputs.argmax(1) != y).mean())


@pytest.mark.mnist
@pytest.mark.parametrize(("network", "point", "factory"), FILES)
def test_recorded_results_still_hold(mnist_dir, network, point, factory):
    recorded = json.loads((RESULTS / f"{network}.json").read_text())["points"][point]
    path = RESULTS / (network + ("-beyond" if point == "beyond" else "") + ".dzip")
    assert path.read_bytes()[4] == 1 and path.stat().st_size == recorded["file_bytes"]
    data = load_mnist_dir(mnist_dir)
    x = data.test_images[:, None].astype(np.float32) / 255
    model = read_dzip(path)
    outputs, error = errors(Engine(model), x, data.test_labels)
    assert error == pytest.approx(recorded["error"], abs=1e-9)

    captured = capture(factory().eval(), torch.from_numpy(x[:2])).graph
    rewritten = read_dzip(dzip_bytes(CompressedModel(model.layers, captured, model.tensors)))
    again, _ = errors(Engine(rewritten), x, data.test_labels)
    np.testing.assert_allclose(again, outputs, rtol=1e-5, atol=1e-5)
