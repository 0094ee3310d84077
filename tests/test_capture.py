"""Capture (torch.export → Graph) against the original model: every op of the table on awkward
shapes, whole models, the silent bugs of issue 10, and the ops deepzip must refuse by name.

The oracle is always the user's model in eval mode (pruned and weight-shared where it has linear
or conv2d layers), run on a batch of another size than the one captured; the stored graph runs
through ``network.to_torch``, an interpreter of the graph independent of the model's class."""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepzip.capture import capture

sys.path.insert(0, str(Path(__file__).parent))
from capture_oracle import Lambda, assert_faithful, image

CONV_CASES = {
    "odd": nn.Conv2d(3, 5, 3),
    "stride-padding": nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 2)),
    "dilation": nn.Conv2d(3, 4, 3, dilation=2, padding=1),
    "groups": nn.Conv2d(3, 6, 3, groups=3),
    "depthwise": nn.Conv2d(3, 3, 3, groups=3, padding=1, bias=False),
    "same-odd": nn.Conv2d(3, 4, 3, padding="same"),
    "same-even-asymmetric": nn.Conv2d(3, 4, (4, 2), padding="same", dilation=(1, 3)),
    "valid": nn.Conv2d(3, 4, 2, padding="valid"),
}


@pytest.mark.parametrize("name", list(CONV_CASES))
def test_conv2d(name):
    assert_faithful(nn.Sequential(CONV_CASES[name], nn.ReLU()), image())


def test_same_padding_is_stored_asymmetric():
    graph = capture(nn.Sequential(nn.Conv2d(3, 4, (4, 2), padding="same")), image()).graph
    (node,) = graph.nodes
    assert node.attrs["pads"] == (1, 0, 2, 1)  # top, left, bottom, right: the extra after


@pytest.mark.parametrize(
    "conv",
    [nn.Conv1d(3, 4, 3), nn.Conv1d(3, 6, 4, stride=2, groups=3, padding=2),
     nn.Conv1d(3, 4, 4, padding="same", dilation=2)],
)  # fmt: skip
def test_conv1d(conv):
    assert_faithful(nn.Sequential(conv, nn.Tanh()), torch.randn(2, 3, 11))


@pytest.mark.parametrize(
    "deconv",
    [nn.ConvTranspose2d(3, 4, 3), nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1,
     output_padding=1), nn.ConvTranspose2d(4, 6, (2, 3), stride=(2, 1), groups=2, dilation=2)],
)  # fmt: skip
def test_conv_transpose2d(deconv):
    assert_faithful(nn.Sequential(deconv), image(c=deconv.in_channels))


ACTIVATIONS = [
    nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.3), nn.PReLU(), nn.PReLU(5), nn.Hardswish(),
    nn.Sigmoid(), nn.Tanh(), nn.GELU(), nn.GELU("tanh"), nn.ReLU(inplace=True),
]  # fmt: skip


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_activations(activation):
    with torch.no_grad():
        if isinstance(activation, nn.PReLU):
            activation.weight.uniform_(-1, 1)
    assert_faithful(nn.Sequential(nn.Conv2d(3, 5, 3), activation), image())


POOLS = {
    "max-ceil": nn.MaxPool2d(3, 2, ceil_mode=True),
    "max-dilation-padding": nn.MaxPool2d(3, 1, padding=1, dilation=2),
    "avg-pad-exclude": nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
    "avg-ceil": nn.AvgPool2d(2, ceil_mode=True),
    "avg-divisor": nn.AvgPool2d(2, divisor_override=3),
    "adaptive": nn.AdaptiveAvgPool2d((2, 3)),
    "adaptive-none": nn.AdaptiveAvgPool2d((None, 2)),
    "global": nn.AdaptiveAvgPool2d(1),
}


@pytest.mark.parametrize("name", list(POOLS))
def test_pooling(name):
    assert_faithful(nn.Sequential(POOLS[name]), image())


def test_avg_pool_divisor_override_is_kept():
    """Issue 10: AvgPool2d(divisor_override=...) ran with the wrong divisor."""
    (node,) = capture(nn.Sequential(nn.AvgPool2d(2, divisor_override=3)), image()).graph.nodes
    assert node.attrs["divisor_override"] == 3


def test_max_pool_indices_then_unpool():
    model = Lambda(
        lambda s, x: s.unpool(*s.pool(x), output_size=x.shape[-2:]),
        pool=nn.MaxPool2d(2, return_indices=True, ceil_mode=False), unpool=nn.MaxUnpool2d(2),
    )  # fmt: skip
    assert_faithful(model, image(h=9, w=8))
    both = Lambda(lambda s, x: s.pool(x), pool=nn.MaxPool2d(3, 2, return_indices=True))
    assert_faithful(both, image())


@pytest.mark.parametrize(
    "kwargs",
    [dict(scale_factor=2, mode="nearest"), dict(size=(5, 11), mode="nearest"),
     dict(scale_factor=1.7, mode="nearest"), dict(scale_factor=(2, 3), mode="bilinear"),
     dict(size=(4, 13), mode="bilinear"), dict(size=(4, 13), mode="bilinear", align_corners=True)],
)  # fmt: skip
def test_upsample(kwargs):
    assert_faithful(Lambda(lambda s, x: F.interpolate(x, **kwargs)), image())


def test_shapes_and_binary_ops():
    def forward(s, x):
        y = s.conv(x)  # (N, 4, 7, 5)
        a = y.flatten(1).view(y.size(0), 4, -1).permute(0, 2, 1).transpose(1, 2)
        b = torch.cat([a, a * 2.0, a - 1, a / 3, 1.5 + a], dim=1).contiguous()
        c = b.reshape(-1, 20, 35)[:, 2:17:3].unsqueeze(1).squeeze(1).select(2, 4)
        return b.mean(dim=(1, 2), keepdim=True) + c.mean(-1, keepdim=True).unsqueeze(-1), c * c

    assert_faithful(Lambda(forward, conv=nn.Conv2d(3, 4, 3)), image())


def test_attention():
    class Attention(nn.Module):
        def __init__(self, dim=12, heads=3):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(dim, 3 * dim)
            self.out = nn.Linear(dim, dim)
            self.norm = nn.LayerNorm(dim)

        def forward(self, x):  # (N, T, dim)
            n, t, d = x.shape
            q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
            q, k, v = (z.reshape(n, t, self.heads, -1).transpose(1, 2) for z in (q, k, v))
            weights = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
            return x + self.out((weights @ v).transpose(1, 2).reshape(n, t, d))

    assert_faithful(Attention(), torch.randn(2, 5, 12))


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(affine):
    norm = nn.LayerNorm((4, 6), elementwise_affine=affine, eps=1e-3)
    if affine:
        with torch.no_grad():
            norm.weight.normal_()
            norm.bias.normal_()
    assert_faithful(nn.Sequential(norm), torch.randn(2, 3, 4, 6))


def test_embedding_into_linear():
    model = Lambda(lambda s, t: s.fc(s.emb(t).mean(1)), emb=nn.Embedding(11, 6), fc=nn.Linear(6, 3))
    assert_faithful(model, torch.randint(0, 11, (2, 7)))


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_lstm(batch_first, bidirectional):
    lstm = nn.LSTM(5, 7, num_layers=2, batch_first=batch_first, bidirectional=bidirectional)
    x = torch.randn(3, 4, 5)  # (N, T, F) or (T, N, F): dimension 0 varies either way
    assert_faithful(Lambda(lambda s, x: s.lstm(x), lstm=lstm), x)
    (node,) = capture(nn.Sequential(lstm), x).graph.nodes[:1]
    assert (node.op, node.layer, node.attrs["bidirectional"]) == ("lstm", "0", bidirectional)


def test_lstm_with_initial_state():
    lstm = nn.LSTM(4, 3, batch_first=True)

    def forward(s, x, h):  # h: (N, 1, 3), the batch first like every input
        h = h.transpose(0, 1).contiguous()
        return s.lstm(x, (h, h * 2))[0]

    model = Lambda(forward, lstm=lstm)
    assert_faithful(model, torch.randn(2, 5, 4), torch.randn(2, 1, 3))
    graph = capture(model, (torch.randn(2, 5, 4), torch.randn(2, 1, 3))).graph
    assert [len(n.inputs) for n in graph.nodes if n.op == "lstm"] == [3]
