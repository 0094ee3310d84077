"""The validation split: carved from the training data (the last N examples), deterministic, never
overlapping the test set or what is left to train on; the pipeline measures it after every stage
as ``val_error`` while ``error`` stays the test error."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from deepzip.pipeline import CompressConfig, as_task, run_pipeline
from deepzip.prune import PruneConfig
from deepzip.share import QuantizeConfig
from deepzip.training import TensorData, TrainConfig, default_val_size


def numbered(train: int, test: int) -> TensorData:
    """Every example's input is its own number: training 0..train-1, test from 10**6 on."""
    x = torch.arange(train, dtype=torch.float32)[:, None]
    t = torch.arange(10**6, 10**6 + test, dtype=torch.float32)[:, None]
    return TensorData(x, x[:, 0].long() % 10, t, t[:, 0].long() % 10)


def ids(x: torch.Tensor) -> set[int]:
    return set(x[:, 0].long().tolist())


@pytest.mark.parametrize("size", [1, 7, 5000])
def test_split_is_the_last_examples_disjoint_from_test_and_training(size):
    data = numbered(60000, 10000)
    split = data.split_validation(size)
    assert len(split.val_x) == len(split.val_y) == size
    assert len(split.train_x) == len(split.train_y) == 60000 - size
    assert ids(split.val_x) == set(range(60000 - size, 60000))
    assert not ids(split.val_x) & ids(split.test_x)
    assert not ids(split.val_x) & ids(split.train_x)
    assert ids(split.val_x) | ids(split.train_x) == ids(data.train_x)
    assert torch.equal(split.test_x, data.test_x)
    again = data.split_validation(size)
    assert torch.equal(again.val_x, split.val_x) and torch.equal(again.train_x, split.train_x)


def test_default_size_is_a_tenth_at_most_5000():
    assert default_val_size(60000) == 5000
    assert default_val_size(400) == 40
    assert default_val_size(5) == 1


def test_bad_sizes_and_a_second_split_are_refused():
    data = numbered(10, 5)
    for size in (0, 10, 11):
        with pytest.raises(ValueError, match="validation size"):
            data.split_validation(size)
    with pytest.raises(ValueError, match="already"):
        data.split_validation(2).split_validation(2)


def test_subset_is_taken_before_the_split_and_normalization_reaches_it():
    config = CompressConfig(train_subset=100, val_size=10, input_mean=(1.0,), input_std=(2.0,))
    task = as_task(config, numbered(1000, 50))
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(x[:, 0].clone())
            return torch.zeros(len(x), 10)

    task.validate(Probe())
    assert torch.equal(seen[-1], (torch.arange(90, 100) - 1.0) / 2.0)


@pytest.fixture(scope="module")
def toy(stripes):
    """The label is the brightest of 10 stripes (tests/test_pipeline.py's toy problem)."""
    return stripes(400, 100)


def test_pipeline_reports_val_error_and_keeps_error_the_test_error(toy, tmp_path):
    (x, y), (tx, ty) = toy
    data = TensorData.from_arrays(x, y, tx, ty)
    config = CompressConfig(
        train=TrainConfig(epochs=1, batch_size=32),
        prune=PruneConfig(sparsity=0.8, steps=1, retrain_epochs=1),
        quantize=QuantizeConfig(fc_bits=4),
        finetune_epochs=0,
        val_size=40,
    )
    result = run_pipeline(config, data, tmp_path)
    assert all(s.val_error is not None for s in result.stages)
    from deepzip.training import evaluate

    split = data.split_validation(40)
    final = result.stages[-1]
    assert final.error == pytest.approx(1 - evaluate(result.model, split.test_x, split.test_y))
    assert final.val_error == pytest.approx(1 - evaluate(result.model, split.val_x, split.val_y))
    # Without a validation split nothing changes: no val_error.
    plain = run_pipeline(
        CompressConfig(**{**config.__dict__, "val_size": None}), data, tmp_path / "plain"
    )
    assert all(s.val_error is None for s in plain.stages)


def deepzip(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "deepzip", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_cli_sensitivity_measures_on_the_validation_split(toy, tmp_path):
    (x, y), (tx, ty) = toy
    np.savez(tmp_path / "toy.npz", x_train=x, y_train=y, x_test=tx, y_test=ty)
    done = deepzip("sensitivity", "--data", "toy.npz", "--epochs", "1", "--ratios", "0,0.9",
                   "--json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["evaluated_on"] == "validation" and result["val_size"] == 40
    # Accuracies on 40 examples are multiples of 1/40.
    assert result["baseline"] * 40 == pytest.approx(round(result["baseline"] * 40))

    too_big = deepzip("compress", "--data", "toy.npz", "--val-size", "400", cwd=tmp_path)
    assert too_big.returncode == 2 and "--val-size" in too_big.stderr
