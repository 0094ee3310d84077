"""A zoo of small models through the whole path: compress, write, read, run by the engine; and
the same cycle for every scaled network of issue 11 (``deepzip.models.CATALOGUE``).

Each model is pruned and weight-shared in place (its compression state attached to its own
modules), captured, written to a .dzip file and read back; the engine's output on the file must
match the *original* PyTorch model in eval mode (max error ≤ 1e-4 of the output's scale), and the
decompressed weights, loaded into a fresh instance of the model's own class, must equal the
compressed model's weights bit for bit.
"""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest
import torch
from torch import nn

from deepzip.capture import fold_batchnorm
from deepzip.container import read_dzip, write_dzip
from deepzip.engine import Engine
from deepzip.models import CATALOGUE, build_model
from deepzip.network import dense_state_dict, to_compressed_model
from deepzip.prune import PruneConfig, iterative_prune
from deepzip.share import QuantizeConfig, share_weights

# -- the models ---------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """ResNet's basic block with BatchNorm and a strided 1×1 projection shortcut."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 12, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(12)
        self.conv2 = nn.Conv2d(12, 12, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(12)
        self.down = nn.Sequential(nn.Conv2d(8, 12, 1, stride=2, bias=False), nn.BatchNorm2d(12))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        x = torch.relu(self.bn0(self.stem(x)))
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y = torch.relu(y + self.down(x))
        return self.fc(torch.flatten(self.pool(y), 1))


class InvertedResidual(nn.Module):
    """MobileNet v2's inverted residual: 1×1 expand, depthwise 3×3, 1×1 project, ReLU6, add."""

    def __init__(self, channels: int = 8, expand: int = 4) -> None:
        super().__init__()
        hidden = channels * expand
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU6())  # fmt: skip
        self.block = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels),
        )  # fmt: skip
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                                  nn.Linear(channels, 4))  # fmt: skip

    def forward(self, x):
        x = self.stem(x)
        return self.head(x + self.block(x))


class Fire(nn.Module):
    """SqueezeNet's fire module: squeeze 1×1, expand 1×1 and 3×3, concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, stride=2)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.squeeze = nn.Conv2d(16, 6, 1)
        self.expand1 = nn.Conv2d(6, 12, 1)
        self.expand3 = nn.Conv2d(6, 12, 3, padding=1)
        self.classifier = nn.Sequential(nn.Conv2d(24, 10, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        x = self.pool(torch.relu(self.conv(x)))
        s = torch.relu(self.squeeze(x))
        x = torch.cat([torch.relu(self.expand1(s)), torch.relu(self.expand3(s))], 1)
        return torch.flatten(self.classifier(x), 1)


class ENetBottlenecks(nn.Module):
    """ENet's initial block, a downsampling bottleneck with pooling indices, an asymmetric and a
    dilated bottleneck with PReLU, and an upsampling bottleneck with max-unpooling and a
    transposed convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.initial = nn.Conv2d(1, 7, 3, stride=2, padding=1)
        self.initial_pool = nn.MaxPool2d(2, 2)
        self.act0 = nn.PReLU(8)
        self.down_pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.down_conv = nn.Sequential(
            nn.Conv2d(8, 4, 2, stride=2, bias=False), nn.BatchNorm2d(4), nn.PReLU(),
            nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.PReLU(),
            nn.Conv2d(4, 16, 1, bias=False), nn.BatchNorm2d(16),
        )  # fmt: skip
        self.act1 = nn.PReLU()
        self.asym = nn.Sequential(
            nn.Conv2d(16, 4, 1, bias=False), nn.PReLU(),
            nn.Conv2d(4, 4, (5, 1), padding=(2, 0), bias=False),
            nn.Conv2d(4, 4, (1, 5), padding=(0, 2)), nn.PReLU(),
            nn.Conv2d(4, 16, 1, bias=False),
        )  # fmt: skip
        self.dilated = nn.Sequential(
            nn.Conv2d(16, 4, 1), nn.PReLU(),
            nn.Conv2d(4, 4, 3, padding=2, dilation=2), nn.PReLU(),
            nn.Conv2d(4, 16, 1),
        )  # fmt: skip
        self.up_main = nn.Sequential(nn.Conv2d(16, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.up_ext = nn.Sequential(
            nn.Conv2d(16, 4, 1), nn.ReLU(),
            nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.Conv2d(4, 8, 1),
        )  # fmt: skip
        self.full = nn.ConvTranspose2d(8, 3, 2, stride=2)

    def forward(self, x):
        x = self.act0(torch.cat([self.initial(x), self.initial_pool(x)], 1))
        pooled, indices = self.down_pool(x)
        # ENet pads the main branch's channels with zeros; repeating them keeps the shape with
        # ops of the table (a zero pad would be refused by name).
        x = self.act1(torch.cat([pooled, pooled], 1) + self.down_conv(x))
        x = torch.relu(x + self.asym(x))
        x = torch.relu(x + self.dilated(x))
        up = self.unpool(self.up_main(x), indices)
        x = torch.relu(up + self.up_ext(x))
        return self.full(x)


class RowLSTM(nn.Module):
    """Classifies an MNIST-sized image row by row: an LSTM over the 28 rows, then a linear."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(28, 24, batch_first=True)
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        out, _ = self.lstm(x.reshape(x.shape[0], 28, 28))
        return self.fc(out[:, -1])


class LanguageModel(nn.Module):
    """Embedding, a 2-layer bidirectional LSTM and a linear over the vocabulary."""

    def __init__(self, vocab: int = 40) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 12)
        self.lstm = nn.LSTM(12, 10, num_layers=2, bidirectional=True)
        self.out = nn.Linear(20, vocab)

    def forward(self, tokens):
        x = self.embed(tokens).transpose(0, 1)  # (T, N, 12): the LSTM is not batch-first
        y, _ = self.lstm(x)
        return self.out(y.transpose(0, 1))


class Conv1dNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(4, 12, 5, padding=2), nn.ReLU(),
            nn.Conv1d(12, 12, 3, stride=2, dilation=2, groups=3), nn.Tanh(),
            nn.Conv1d(12, 8, 4, padding="same"), nn.LeakyReLU(0.1),
        )  # fmt: skip
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=2))


class EncoderLayer(nn.Module):
    """A Transformer encoder layer built from nn.Linear, nn.LayerNorm and attention by hand."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 32), nn.GELU(), nn.Linear(32, dim))

    def _split(self, x):
        n, t, _ = x.shape
        return x.reshape(n, t, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        attention = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)
        y = (attention @ v).permute(0, 2, 1, 3).reshape(n, t, d)
        x = self.norm1(x + self.proj(y))
        return self.norm2(x + self.ff(x))


class SharedModule(nn.Module):
    """One Linear and one ReLU used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(10, 16)
        self.hidden = nn.Linear(16, 16)
        self.relu = nn.ReLU()
        self.out = nn.Linear(16, 4)

    def forward(self, x):
        x = self.relu(self.inp(x))
        x = self.relu(self.hidden(x))
        x = self.relu(self.hidden(x))
        return self.out(x)


def _tokens(shape):
    return torch.randint(0, 40, shape, generator=torch.Generator().manual_seed(1))


ZOO = {
    "resnet_basic_block": (BasicBlock, lambda: torch.randn(3, 3, 10, 10)),
    "mobilenet_v2_inverted_residual": (InvertedResidual, lambda: torch.randn(2, 3, 12, 12)),
    "squeezenet_fire": (Fire, lambda: torch.rand(3, 1, 28, 28)),
    "enet_bottlenecks": (ENetBottlenecks, lambda: torch.rand(2, 1, 32, 32)),
    "lstm_rows": (RowLSTM, lambda: torch.rand(3, 1, 28, 28)),
    "embedding_lstm_language_model": (LanguageModel, lambda: _tokens((2, 7))),
    "conv1d": (Conv1dNet, lambda: torch.randn(3, 4, 31)),
    "transformer_encoder_layer": (EncoderLayer, lambda: torch.randn(2, 5, 16)),
    "module_used_twice": (SharedModule, lambda: torch.randn(4, 10)),
}


def _randomise_batchnorm(model: nn.Module, generator: torch.Generator) -> None:
    """Give BatchNorm layers non-trivial statistics, as training would."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.3)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.2)


def _scaled(name: str):
    """A scaled network of the catalogue and a batch of its inputs."""
    shape = CATALOGUE[name].input_shape
    return lambda: build_model(name), lambda: torch.rand(2, *shape)


SCALED = [n for n, e in CATALOGUE.items() if e.reference is None and not n.startswith("lenet")]
ZOO |= {f"scaled_{name}": _scaled(name) for name in SCALED}


def _compress(name: str):
    factory, make_input = ZOO[name]
    torch.manual_seed(0)
    model = factory().eval()
    _randomise_batchnorm(model, torch.Generator().manual_seed(2))
    x = make_input()
    fold_batchnorm(model, (x,))
    iterative_prune(model, PruneConfig(sparsity=0.6, steps=1, retrain_epochs=0), lambda m, s: None)
    config = QuantizeConfig(conv_bits=6, fc_bits=5, index_bits=4)
    share_weights(model, config)
    return factory, model, x, to_compressed_model(model, config, example_inputs=(x,))


def _relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-12))


@pytest.mark.parametrize("name", list(ZOO))
def test_engine_on_the_file_matches_the_original_model(name, tmp_path):
    _, model, x, compressed = _compress(name)
    assert compressed.network is not None and not compressed.network.unsupported()
    path = tmp_path / f"{name}.dzip"
    write_dzip(path, compressed)
    engine = Engine(read_dzip(path))
    with torch.no_grad():
        expected = model(x).numpy()
    actual = engine.run(x.numpy())
    assert actual.shape == expected.shape
    assert _relative_error(actual, expected) <= 1e-4


@pytest.mark.parametrize("name", list(ZOO))
def test_decompressed_weights_load_into_the_models_own_class_bit_exact(name, tmp_path):
    factory, model, x, compressed = _compress(name)
    path = tmp_path / f"{name}.dzip"
    write_dzip(path, compressed)
    fresh = factory().eval()
    fold_batchnorm(fresh, (x,))  # the same structure as the compressed model (values differ)
    state = dense_state_dict(read_dzip(path))
    fresh.load_state_dict(state, strict=True)
    for key, value in fresh.state_dict().items():
        if not torch.is_floating_point(value):
            continue
        expected = operator.attrgetter(key)(model).detach()
        assert torch.equal(value, expected), key
