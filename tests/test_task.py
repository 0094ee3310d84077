"""Issue 10: any data, any task: the pipeline trains with the user's training and measures the
user's metric; the user's input normalization is applied and recorded in the file."""

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from deepzip.metrics import accuracy, chance_accuracy
from deepzip.pipeline import CompressConfig, run_pipeline, write_result
from deepzip.preprocess import INPUT_MEAN, INPUT_STD, Normalization
from deepzip.prune import PruneConfig
from deepzip.share import QuantizeConfig
from deepzip.task import Task
from deepzip.training import TensorData, TrainConfig

CONFIG = CompressConfig(
    model="lenet-300-100",
    train=TrainConfig(epochs=2, lr=0.05, batch_size=32),
    prune=PruneConfig(sparsity=0.8, steps=1, retrain_epochs=1),
    quantize=QuantizeConfig(fc_bits=4),
    finetune_epochs=1,
)


@pytest.fixture(scope="module")
def tiny_data(stripes):
    (x, y), (test_x, test_y) = stripes(400, 200)
    return TensorData.from_arrays(x, y, test_x, test_y)


def test_accuracy_and_chance():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(scores, [1, 0, 0]) == pytest.approx(2 / 3)
    assert accuracy(torch.from_numpy(scores), torch.tensor([1, 0, 1])) == 1.0
    assert chance_accuracy(np.array([0, 0, 0, 1])) == 0.75
    assert accuracy(np.zeros(3), [0, 1, 2]) == pytest.approx(1 / 3)  # classes, not scores
    with pytest.raises(ValueError, match="differ"):
        accuracy(np.zeros((3, 2)), [0, 1])


def test_pipeline_with_dataloaders_and_a_user_metric(tiny_data, tmp_path):
    """A torch Dataset/DataLoader and a metric other than accuracy (here: mean probability of
    the true class, higher is better), with the user's own loss."""
    calls = []

    def true_class_probability(outputs, targets):
        calls.append(len(outputs))
        probs = torch.softmax(torch.as_tensor(outputs), dim=1)
        return float(probs[torch.arange(len(targets)), torch.as_tensor(targets)].mean())

    task = Task.from_datasets(
        TensorDataset(tiny_data.train_x, tiny_data.train_y),
        TensorDataset(tiny_data.test_x, tiny_data.test_y),
        batch_size=32,
        metric=true_class_probability,
        loss_fn=torch.nn.CrossEntropyLoss(label_smoothing=0.1),
    )
    result = run_pipeline(CONFIG, task, tmp_path)
    assert result.metric_name == "true_class_probability"
    assert calls == [200] * 4  # one evaluation per stage, over the whole test split
    for stage in result.stages:
        assert 0 < stage.metric < 1 and stage.error == pytest.approx(1 - stage.metric)
    assert result.stages[0].metric > 0.12  # it learned something: an untrained net gives ~0.1


def test_pipeline_with_plain_callbacks(tiny_data, tmp_path):
    seen = []

    def fit(model, config, on_batch):
        seen.append(config.epochs)

    task = Task(fit, lambda model: 0.25, metric_name="score")
    result = run_pipeline(CONFIG, task, tmp_path)
    assert seen == [2, 1, 1]  # baseline, one pruning round, fine-tuning
    assert [s.metric for s in result.stages] == [0.25] * 4


def test_normalization_is_applied_and_recorded(tiny_data, tmp_path):
    from deepzip.container import read_dzip
    from deepzip.engine import Engine

    config = CompressConfig(**{**CONFIG.__dict__, "input_mean": (0.2,), "input_std": (0.3,)})
    result = run_pipeline(config, tiny_data, tmp_path / "w")
    path = tmp_path / "m.dzip"
    write_result(result, path, tiny_data.test_x[:2])
    model = read_dzip(path)
    np.testing.assert_array_equal(model.tensors[INPUT_MEAN], np.float32([0.2]))
    np.testing.assert_array_equal(model.tensors[INPUT_STD], np.float32([0.3]))
    norm = Normalization.from_tensors(model.tensors)
    assert norm.agrees_with(Normalization((0.2,), (0.3,)))
    # The engine on normalized inputs gives what the trained model gives on them.
    x = tiny_data.test_x[:20]
    with torch.no_grad():
        expected = result.model((x - 0.2) / 0.3).numpy()
    np.testing.assert_allclose(Engine(model).run(norm.apply(x.numpy())), expected, atol=1e-4)
    # The normalization belongs to the baseline's settings: a change retrains it.
    other = CompressConfig(**{**config.__dict__, "input_mean": (0.1,)})
    from deepzip.pipeline import Reporter

    class Resumed(Reporter):
        def __init__(self):
            self.resumed = []

        def stage_start(self, stage, resumed):
            self.resumed.append(resumed)

    rec = Resumed()
    run_pipeline(other, tiny_data, tmp_path / "w", rec)
    assert not any(rec.resumed)


def test_normalization_parsing():
    assert Normalization.parse("0.1307,0.3081") == Normalization((0.1307,), (0.3081,))
    rgb = Normalization.parse("0.485,0.456,0.406,0.229,0.224,0.225")
    assert rgb.mean == (0.485, 0.456, 0.406) and rgb.std == (0.229, 0.224, 0.225)
    x = np.ones((2, 3, 4, 4), np.float32)
    np.testing.assert_allclose(rgb.apply(x)[:, 1], (1 - 0.456) / 0.224, rtol=1e-6)
    for bad in ("0.1", "0.1,0.2,0.3", "a,b", "0.1,0"):
        with pytest.raises(ValueError):
            Normalization.parse(bad)
    with pytest.raises(ValueError, match="channels"):
        rgb.apply(np.ones((2, 1, 4, 4)))
