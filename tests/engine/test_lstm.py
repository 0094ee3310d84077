"""``lstm`` through compressed gate matrices (and plain ones) against ``torch.nn.LSTM``."""

from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import assert_close, make_layer, random_weight

from deepzip import kinds
from deepzip.compressed import CompressedModel
from deepzip.container import read_dzip
from deepzip.engine import Engine, lstm
from deepzip.graph import Graph, GraphInput, Node
from deepzip.models import build_model
from deepzip.network import dense_state_dict


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


def zero_columns(model: CompressedModel, name: str, columns: slice) -> CompressedModel:
    """``model`` with the columns ``columns`` of compressed weight ``name`` pruned away."""
    layers = []
    for layer in model.layers:
        if layer.name == name:
            codes = layer.matrix_codes().copy()
            codes[:, columns] = 0
            layer = make_layer(name, "lstm", layer.codebook, codes, None, layer.weight_bits, 4)
        layers.append(layer)
    return CompressedModel(layers, model.network, model.tensors)


def run_both_paths(model, monkeypatch, *inputs, pes=3):
    """The engine's outputs (a tuple) with the recurrence kernels, checked against the per-step
    path's."""
    fast = Engine(model, pes=pes).run(*inputs)
    with monkeypatch.context() as patch:
        patch.setattr(lstm, "recurrence", lstm.recurrence_steps)
        slow = Engine(model, pes=pes).run(*inputs)
    fast, slow = (r if isinstance(r, tuple) else (r,) for r in (fast, slow))
    assert len(fast) == len(slow)
    for got, want in zip(fast, slow):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
    return fast


@pytest.mark.parametrize(("hidden", "pes"), [(3, 16), (1, 5), (7, 2)])
@pytest.mark.parametrize("batch", [1, 4, 70])
def test_lstm_kernels_against_torch_and_steps(hidden, pes, batch, monkeypatch):
    """Odd hidden sizes and more PEs than gate rows, 2 bidirectional layers, h0/c0 given,
    W_hh_l0 with all-zero columns; batches of one, a few and over one tile."""
    torch.manual_seed(hidden + batch)
    rnn = torch.nn.LSTM(5, hidden, num_layers=2, bidirectional=True, batch_first=True)
    model = lstm_model(rnn, True, with_state=True, seed=hidden)
    model = zero_columns(model, "rnn.weight_hh_l0", slice(0, (hidden + 1) // 2))
    with torch.no_grad():  # the torch LSTM gets the pruned weight too
        rnn.weight_hh_l0.copy_(torch.from_numpy(model.layers[1].dense_weight()))
    x = torch.randn(batch, 6, 5)
    h0, c0 = torch.randn(4, batch, hidden), torch.randn(4, batch, hidden)
    with torch.no_grad():
        want, (want_h, want_c) = rnn(x, (h0, c0))
    out, h, c = run_both_paths(model, monkeypatch, x.numpy(), h0.numpy(), c0.numpy(), pes=pes)
    assert_close(out, want)
    assert_close(h, want_h)
    assert_close(c, want_c)
    zeros = torch.zeros(batch, 4, 5)
    with torch.no_grad():
        want_zero, _ = rnn(zeros)
    states = np.zeros((2, 4, batch, hidden), np.float32)
    got_zero = run_both_paths(model, monkeypatch, zeros.numpy(), *states, pes=pes)[0]
    assert_close(got_zero, want_zero)


RESULT = Path(__file__).resolve().parents[2] / "results" / "lstm.dzip"


@pytest.mark.skipif(not RESULT.exists(), reason=f"{RESULT} (the reproduced LSTM) is absent")
@pytest.mark.parametrize("batch", [1, 3])
def test_reproduced_lstm_against_torch(batch, monkeypatch):
    """The reproduced row-by-row LSTM (results/lstm.dzip) against its own PyTorch class with the
    file's dense weights, and against the per-step path."""
    compressed = read_dzip(RESULT)
    model = build_model("lstm").eval()
    model.load_state_dict(dense_state_dict(compressed), strict=True)
    x = np.random.default_rng(batch).random((batch, 1, 28, 28), dtype=np.float32)
    x[0, 0, :5] = 0.0  # blank rows, as at the top of an image
    with torch.no_grad():
        want = model(torch.from_numpy(x))
    (got,) = run_both_paths(compressed, monkeypatch, x, pes=2)
    assert_close(got, want)
