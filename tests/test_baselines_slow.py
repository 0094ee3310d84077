"""Full-length runs on real MNIST (``pytest -m slow``): the issue's baseline errors and the demo.

LeNet-300-100 takes about a minute and LeNet-5 about six on 2 idle cores; the demo about four.
"""

import json
import subprocess
import sys

import pytest
import torch

from deepzip.data import load_mnist_dir
from deepzip.models import build_model
from deepzip.pipeline import demo_config
from deepzip.training import TensorData, TrainConfig, evaluate, train

pytestmark = [pytest.mark.slow, pytest.mark.mnist]


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    m = load_mnist_dir(mnist_dir)
    return TensorData.from_arrays(m.train_images, m.train_labels, m.test_images, m.test_labels)


@pytest.mark.parametrize(
    ("name", "config", "max_error"),
    [
        ("lenet-300-100", demo_config().train, 0.017),
        ("lenet-5", TrainConfig(epochs=12, lr=0.05, weight_decay=5e-4), 0.009),
    ],
)
def test_baseline_error(mnist, name, config, max_error):
    torch.manual_seed(config.seed)
    model = build_model(name)
    train(model, mnist.train_x, mnist.train_y, config)
    assert 1 - evaluate(model, mnist.test_x, mnist.test_y) <= max_error


def test_demo_end_to_end(mnist_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "deepzip", "demo", "--data", str(mnist_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,  # the demo writes its file in the current folder
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["baseline_error"] <= 0.017
    assert summary["weights_kept"] < 0.09
    # Pruning to 8% and 5-bit sharing cost at most a few tenths of a point after retraining.
    assert summary["finetuned_error"] <= summary["baseline_error"] + 0.005
