"""RESULTS.md's files, read with the current reader and run by the current engine, give the
errors and sizes their reproduce JSON records, on the whole MNIST test set; and their dense
weights, loaded into the network's own PyTorch class, classify every test image the same way."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deepzip.container import read_dzip
from deepzip.data.mnist import load_mnist_dir
from deepzip.engine import Engine
from deepzip.models import lenet_5, lenet_300_100
from deepzip.network import dense_state_dict

RESULTS = Path(__file__).resolve().parents[1] / "results"
FACTORIES = {"lenet-300-100": lenet_300_100, "lenet-5": lenet_5}
FILES = [(network, point) for network in FACTORIES for point in ("paper", "search")]


@pytest.mark.mnist
@pytest.mark.parametrize(("network", "point"), FILES)
def test_recorded_results_still_hold(mnist_dir, network, point):
    summary_path = RESULTS / f"{network}.json"
    if not summary_path.is_file():
        pytest.skip(f"{summary_path} not committed")
    recorded = json.loads(summary_path.read_text())["points"][point]
    path = RESULTS / (network + ("" if point == "paper" else f"-{point}") + ".dzip")
    assert Path(recorded["file"]).name == path.name
    assert path.stat().st_size == recorded["file_bytes"]
    data = load_mnist_dir(mnist_dir)
    x = data.test_images[:, None].astype(np.float32) / 255
    model = read_dzip(path)
    predicted = Engine(model).classify(x)
    assert float((predicted != data.test_labels).mean()) == pytest.approx(
        recorded["file_error"], abs=1e-9
    )

    net = FACTORIES[network]().eval()
    state = {k: v for k, v in dense_state_dict(model).items() if not k.startswith("deepzip.")}
    net.load_state_dict(state)
    with torch.no_grad():
        logits = torch.cat([net(torch.from_numpy(x[i : i + 2000])) for i in range(0, 10000, 2000)])
    np.testing.assert_array_equal(logits.argmax(1).numpy(), predicted)


COMPACT = ["mobilenet-v1", "mobilenet-v2", "squeezenet", "squeezenext", "lstm"]


@pytest.mark.parametrize("network", COMPACT)
def test_recorded_compact_results_still_hold(network):
    """The compact networks' files (Fashion-MNIST): the engine's accuracy on the test set is the
    recorded metric."""
    from deepzip.data import FASHION_MNIST_DIR, find_fashion_mnist

    summary_path = RESULTS / f"{network}.json"
    if not summary_path.is_file():
        pytest.skip(f"{summary_path} not committed")
    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip(
            f"Fashion-MNIST is not in {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)"
        )
    summary = json.loads(summary_path.read_text())
    recorded = summary["points"]["search"]
    path = RESULTS / f"{network}.dzip"
    assert path.stat().st_size == recorded["file_bytes"]
    data = load_mnist_dir(find_fashion_mnist(None))
    x = data.test_images[:, None].astype(np.float32) / 255
    predicted = Engine(read_dzip(path)).classify(x)
    accuracy = float((predicted == data.test_labels).mean())
    assert accuracy == pytest.approx(1 - recorded["file_error"], abs=1e-9)  # seed 0's file


SCENES = ["enet", "segnet", "squeezedet"]


@pytest.mark.mnist
@pytest.mark.parametrize("network", SCENES)
def test_recorded_scene_results_still_hold(mnist_dir, network):
    """The scene networks' files (segmentation, detection on scenes of the MNIST test digits):
    the current engine's outputs give the recorded mean IoU or mAP. Some of these files were
    measured by an earlier engine (im2col convolutions), whose float rounding may flip a pixel's
    near-tie: 1e-4 of the metric is a few pixels of the 2,000 scenes."""
    from deepzip.reproduce import RECIPES, scene_data

    summary_path = RESULTS / f"{network}.json"
    if not summary_path.is_file():
        pytest.skip(f"{summary_path} not committed")
    summary = json.loads(summary_path.read_text())
    recorded = summary["points"]["search"]
    path = RESULTS / f"{network}.dzip"
    assert path.stat().st_size == recorded["file_bytes"]
    recipe = RECIPES[network]
    data = scene_data(load_mnist_dir(mnist_dir), boxes=recipe.task == "detection")
    engine = Engine(read_dzip(path))
    x = data.test_x.numpy()
    outputs = np.concatenate([engine.run(x[i : i + 250]) for i in range(0, len(x), 250)])
    assert recipe.metric(outputs, data.test_y) == pytest.approx(summary["metric"], abs=1e-4)
