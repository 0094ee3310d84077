"""BatchNorm folded into the preceding conv or linear layer: same function, BatchNorm gone where
it can fold, kept (and run) where it cannot."""

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from deepzip.capture import capture, fold_batchnorm
from deepzip.network import to_compressed_model, to_torch
from deepzip.prune import PruneConfig, prune_step

sys.path.insert(0, str(Path(__file__).parent))
from capture_oracle import (
    Lambda,
    ResidualCNN,
    assert_faithful,
    image,
    trained_statistics,
)


def folded_and_same(model, x):
    model = trained_statistics(model).eval()
    with torch.no_grad():
        before = model(x)
    original = copy.deepcopy(model)
    fold_batchnorm(model, x)
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-5)
    return original, model


@pytest.mark.parametrize("bias", [True, False])
def test_conv_bn_folds(bias):
    _, model = folded_and_same(
        nn.Sequential(nn.Conv2d(3, 5, 3, bias=bias), nn.BatchNorm2d(5), nn.ReLU()), image()
    )
    assert isinstance(model[1], nn.Identity) and model[0].bias is not None
    assert [n.op for n in capture(model, image()).graph.nodes] == ["conv2d", "relu"]


def test_linear_and_conv1d_fold():
    _, model = folded_and_same(nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6)), torch.randn(3, 4))
    assert isinstance(model[1], nn.Identity)
    _, model = folded_and_same(
        nn.Sequential(nn.Conv1d(2, 4, 3, groups=2), nn.BatchNorm1d(4)), torch.randn(3, 2, 9)
    )
    assert isinstance(model[1], nn.Identity)


def test_unfoldable_batchnorms_stay():
    # Linear over (N, L, F): BatchNorm1d normalises L, not the linear's outputs.
    _, model = folded_and_same(
        nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(5)), torch.randn(3, 5, 4)
    )
    assert isinstance(model[1], nn.BatchNorm1d)
    # The conv's output is read by the BatchNorm and the residual add.
    both = Lambda(lambda s, x: s.bn(s.conv(x)) + s.conv(x) * 0 + x, conv=nn.Conv2d(3, 3, 1),
                  bn=nn.BatchNorm2d(3))  # fmt: skip
    _, model = folded_and_same(both, image())
    assert isinstance(model.bn, nn.BatchNorm2d)
    shared = Lambda(lambda s, x: s.bn(s.conv(x)) + s.conv(x), conv=nn.Conv2d(3, 3, 1),
                    bn=nn.BatchNorm2d(3))  # fmt: skip
    _, model = folded_and_same(shared, image())
    assert isinstance(model.bn, nn.BatchNorm2d)
    # BatchNorm first: no producer.
    _, model = folded_and_same(nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 2, 1)), image())
    assert isinstance(model[0], nn.BatchNorm2d)


def test_residual_cnn_folds_then_compresses_faithfully():
    original, model = folded_and_same(ResidualCNN(), image(h=8, w=8))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert_faithful(model, image(h=8, w=8))  # pruned and shared after folding
    assert sum(isinstance(m, nn.BatchNorm2d) for m in original.modules()) == 5


def test_pruned_layers_refuse_to_fold():
    model = trained_statistics(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    prune_step(model, PruneConfig(sparsity=0.5, steps=1), 1)
    with pytest.raises(ValueError, match="fold before"):
        fold_batchnorm(model, image())


def test_pipeline_folds_before_pruning_and_resumes(tmp_path):
    from deepzip.pipeline import CompressConfig, Reporter, run_pipeline
    from deepzip.prune import PruneConfig
    from deepzip.training import TensorData, TrainConfig

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (64, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, 64)
    data = TensorData.from_arrays(images, labels, images[:16], labels[:16])
    config = CompressConfig(
        model="capture_oracle:bn_net",
        train=TrainConfig(epochs=1, lr=0.01, batch_size=16),
        prune=PruneConfig(sparsity=0.5, steps=2, retrain_epochs=1),
        finetune_epochs=1,
    )

    class StopAt(Reporter):
        def stage_start(self, stage, resumed):
            if stage == "quantize" and not resumed:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(config, data, tmp_path, StopAt())
    result = run_pipeline(config, data, tmp_path)  # resumes after prune-2, on the folded model
    assert isinstance(result.model[1], nn.Identity)
    assert result.model[0].bias is not None
    x = data.test_x[:4]
    cm = to_compressed_model(result.model, config.quantize, x)
    assert [n.op for n in cm.network.nodes] == ["conv2d", "relu", "flatten", "linear"]
    with torch.no_grad():
        torch.testing.assert_close(to_torch(cm)(x), result.model(x), rtol=1e-5, atol=1e-5)
