"""``lstm`` through compressed gate matrices (and plain ones) against ``torch.nn.LSTM``."""

import numpy as np
import pytest
import torch
from engine_helpers import assert_close, random_weight

from deepzip import kinds
from deepzip.compressed import CompressedModel
from deepzip.engine import Engine
from deepzip.graph import Graph, GraphInput, Node


def lstm_model(rnn: torch.nn.LSTM, compressed: bool, with_state: bool, seed: int = 0):
    """The CompressedModel of ``rnn`` (its weights replaced by the dequantized ones)."""
    rng = np.random.default_rng(seed)
    layers, tensors = [], {}
    with torch.no_grad():
        for name, param in rnn.named_parameters():
            if name.startswith("weight"):
                layer, dense = random_weight(rng, kinds.layer_name("rnn", name), "lstm",
                                             tuple(param.shape), 0.4)  # fmt: skip
                param.copy_(torch.from_numpy(dense))
                if compressed:
                    layers.append(layer)
                else:
                    tensors[kinds.parameter_name("rnn", name)] = dense
            else:
                tensors[kinds.parameter_name("rnn", name)] = param.numpy().copy()
    attrs = {"hidden_size": rnn.hidden_size, "num_layers": rnn.num_layers,
             "bidirectional": rnn.bidirectional, "batch_first": rnn.batch_first,
             "has_biases": rnn.bias}  # fmt: skip
    inputs = [GraphInput("x", "float32", None)]
    if with_state:
        inputs += [GraphInput("h0", "float32", None), GraphInput("c0", "float32", None)]
    node = Node("lstm", tuple(i.name for i in inputs), ("out", "h", "c"), "rnn", attrs)
    return CompressedModel(layers, Graph(tuple(inputs), (node,), ("out", "h", "c")), tensors)


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize(("batch", "steps"), [(1, 1), (5, 4)])
def test_lstm_matches_torch(compressed, batch_first, bidirectional, batch, steps):
    torch.manual_seed(batch + steps)
    rnn = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=bidirectional, batch_first=batch_first)
    model = lstm_model(rnn, compressed, with_state=True, seed=batch)
    directions = 2 if bidirectional else 1
    shape = (batch, steps, 3) if batch_first else (steps, batch, 3)
    x = torch.randn(shape)
    h0, c0 = torch.randn(2 * directions, batch, 5), torch.randn(2 * directions, batch, 5)
    with torch.no_grad():
        want, (want_h, want_c) = rnn(x, (h0, c0))
    engine = Engine(model, pes=3, max_batch=2)
    out, h, c = engine.run(x.numpy(), h0.numpy(), c0.numpy())
    assert_close(out, want)
    assert_close(h, want_h)
    assert_close(c, want_c)
    if compressed:
        assert "rnn.weight_hh_l1" in engine.layers


def test_lstm_without_state_or_biases():
    torch.manual_seed(3)
    rnn = torch.nn.LSTM(4, 6, num_layers=1, bias=False, batch_first=True)
    model = lstm_model(rnn, True, with_state=False)
    x = torch.randn(5, 7, 4)
    with torch.no_grad():
        want, (want_h, want_c) = rnn(x)
    out, h, c = Engine(model).run(x.numpy())
    assert_close(out, want)
    assert_close(h, want_h)
    assert_close(c, want_c)
    zeros = np.zeros((2, 3, 4), np.float32)
    with torch.no_grad():
        want_zero, _ = rnn(torch.from_numpy(zeros))
    assert_close(Engine(model).run(zeros)[0], want_zero)


def test_lstm_shape_errors():
    rnn = torch.nn.LSTM(4, 6, batch_first=True)
    engine = Engine(lstm_model(rnn, True, with_state=False))
    with pytest.raises(ValueError, match=r"lstm 'rnn'.*in = 4"):
        engine.run(np.zeros((2, 3, 5), np.float32))
