"""The model runner against the dense, dequantized torch model (network.to_torch)."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from deepzip.compressed import CompressedModel, NetworkOp
from deepzip.engine import Engine
from deepzip.models import lenet_5, lenet_300_100
from deepzip.network import to_compressed_model, to_torch
from deepzip.prune import PruneConfig, prune_step
from deepzip.share import QuantizeConfig, share_weights

RTOL = 1e-5  # relative to the largest output magnitude
# fixed16 against float32: weights and activations in 16-bit formats chosen per layer / per input,
# products summed exactly; the logits differ by rounding only.
FIXED16_RTOL = 2e-3


def compressed(model: nn.Module, layers=None, sparsity=0.8, seed=0) -> CompressedModel:
    torch.manual_seed(seed)
    prune_step(model, PruneConfig(sparsity=sparsity, steps=1, layers=layers), 1)
    share_weights(model, QuantizeConfig(), layers=layers)
    return to_compressed_model(model)


def reference(cm: CompressedModel, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return to_torch(cm)(torch.from_numpy(x)).numpy()


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.fixture(scope="module", params=["lenet-300-100", "lenet-5"])
def lenet(request):
    factory = lenet_300_100 if request.param == "lenet-300-100" else lenet_5
    return compressed(factory())


@pytest.mark.parametrize("batch", [1, 3, 64, 70])
def test_lenet_matches_dense_torch(lenet, batch):
    x = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(batch)).numpy()
    engine = Engine(lenet)
    got = engine.run(x)
    want = reference(lenet, x)
    assert got.dtype == np.float32
    assert relative_error(got, want) <= RTOL
    np.testing.assert_array_equal(got.argmax(1), want.argmax(1))


def test_pes_and_chunks_do_not_change_the_output(lenet):
    x = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(1)).numpy()
    want = reference(lenet, x)
    for pes in (1, 3, 7):
        assert relative_error(Engine(lenet, pes=pes, max_batch=6).run(x), want) <= RTOL


def test_fixed16_is_close_to_float(lenet):
    x = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(2)).numpy()
    floats = Engine(lenet).run(x)
    fixed = Engine(lenet, arithmetic="fixed16").run(x)
    assert fixed.dtype == np.float32
    assert relative_error(fixed, floats) <= FIXED16_RTOL
    assert np.mean(fixed.argmax(1) == floats.argmax(1)) >= 0.99
    single = Engine(lenet, arithmetic="fixed16").run(x[:1])
    assert relative_error(single, floats[:1]) <= FIXED16_RTOL


def test_flat_input_for_lenet_300_100():
    cm = compressed(lenet_300_100())
    x = np.random.default_rng(3).random((5, 784), dtype=np.float32)
    assert relative_error(Engine(cm).run(x), reference(cm, x)) <= RTOL


def test_layer_bytes(lenet):
    rows = Engine(lenet, pes=2).layer_bytes()
    assert [r.name for r in rows] == [layer.name for layer in lenet.layers]
    for row, layer in zip(rows, lenet.layers):
        assert row.entries - row.fillers == layer.num_kept
        assert row.resident_bytes > 0 and row.pes == 2


def convnet() -> nn.Sequential:
    """Padding, stride, dilation, groups, average pooling, dropout, nested Sequential."""
    return nn.Sequential(
        OrderedDict(
            block=nn.Sequential(nn.Conv2d(2, 6, 3, stride=2, padding=1), nn.ReLU()),
            grouped=nn.Conv2d(6, 4, 3, padding=2, dilation=2, groups=2),
            pool=nn.AvgPool2d(2, padding=1),
            relu=nn.ReLU(),
            maxpool=nn.MaxPool2d(3, stride=1, padding=1),
            drop=nn.Dropout(0.5),
            flatten=nn.Flatten(),
            fc=nn.Linear(4 * 4 * 4, 7),
        )
    )


def test_convnet_with_every_op():
    model = convnet()
    cm = compressed(model, sparsity=0.5)
    assert cm.network is not None
    x = torch.rand(9, 2, 13, 13, generator=torch.Generator().manual_seed(4)).numpy()
    want = reference(cm, x)
    for batch in (1, 9):
        assert relative_error(Engine(cm).run(x[:batch]), want[:batch]) <= RTOL
    fixed = Engine(cm, arithmetic="fixed16").run(x)
    assert relative_error(fixed, want) <= FIXED16_RTOL
    assert len(Engine(cm).layers["grouped"]) == 2  # one layout per convolution group


def test_plain_tensors_run_dense():
    # Only fc1 is compressed; fc2 and fc3 stay plain float32 tensors of the model.
    cm = compressed(lenet_300_100(), layers=["fc1"])
    assert set(cm.tensors) == {"fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"}
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(5)).numpy()
    want = reference(cm, x)
    assert relative_error(Engine(cm).run(x), want) <= RTOL
    assert relative_error(Engine(cm, arithmetic="fixed16").run(x), want) <= FIXED16_RTOL
    assert list(Engine(cm).layers) == ["fc1"]


def test_plain_conv_runs_dense():
    model = convnet()
    cm = compressed(model, layers=["fc"], sparsity=0.5)
    x = torch.rand(3, 2, 13, 13, generator=torch.Generator().manual_seed(6)).numpy()
    assert relative_error(Engine(cm).run(x), reference(cm, x)) <= RTOL


def test_linear_on_a_spatial_tensor():
    # torch's Linear acts on the last axis of a (N, C, H, W) tensor.
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Linear(6, 5), nn.Flatten(), nn.Linear(60, 4)
    )
    cm = compressed(model, sparsity=0.3)
    x = torch.rand(2, 1, 6, 8, generator=torch.Generator().manual_seed(7)).numpy()
    assert relative_error(Engine(cm).run(x), reference(cm, x)) <= RTOL


def test_load_from_dzip(tmp_path):
    container = pytest.importorskip("deepzip.container")
    cm = compressed(lenet_5())
    path = tmp_path / "lenet5.dzip"
    container.write_dzip(path, cm)
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(8)).numpy()
    assert relative_error(Engine.load(path).run(x), reference(cm, x)) <= RTOL


def test_errors():
    cm = compressed(lenet_300_100())
    with pytest.raises(ValueError, match="arithmetic"):
        Engine(cm, arithmetic="int8")
    with pytest.raises(ValueError, match="network description"):
        Engine(CompressedModel(cm.layers, None, cm.tensors))
    with pytest.raises(ValueError, match="batch dimension"):
        Engine(cm).run(np.zeros(784, np.float32))
    bad = CompressedModel(cm.layers, [NetworkOp("conv2d", "fc1", (1, 1, 0, 0, 1, 1, 1))], {})
    with pytest.raises(ValueError, match="linear layer"):
        Engine(bad)


@pytest.mark.mnist
@pytest.mark.parametrize("factory", [lenet_300_100, lenet_5])
def test_mnist_classes_identical_to_torch(mnist_dir, factory):
    from deepzip.data import load_mnist_dir

    images = load_mnist_dir(mnist_dir).test_images
    x = (images.astype(np.float32) / 255.0)[:, None]  # as TensorData.from_arrays
    cm = compressed(factory())
    want = reference(cm, x)
    got = Engine(cm).run(x)
    assert relative_error(got, want) <= RTOL
    np.testing.assert_array_equal(got.argmax(1), want.argmax(1))
