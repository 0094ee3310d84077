"""``lstm``: torch's ``nn.LSTM`` run through the compressed gate matrices, as EIE runs NeuralTalk's
LSTM (EIE §V: every gate's matrix-vector product is a sparse product on the engine).

Per layer and direction, ``W_ih x_t`` for all time steps is one batch product over the layer's
input sequence; then, step by step, ``W_hh h_{t-1}`` is a sparse product of the previous hidden
state (its zero entries skipped, EIE's activation sparsity), and the gates follow torch::

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)

The steps of a compressed ``W_hh`` run in one kernel call per layer and direction
(``recurrence``, ``_lstm_kernels``): a Python loop of a product and a dozen numpy calls per step
costs more than a small layer's arithmetic. A plain ``W_hh`` runs step by step
(``recurrence_steps``, also the kernels' slow reference).

The reverse direction walks the sequence backwards; a layer above the first reads both
directions' outputs, concatenated. Biases are plain tensors. Inputs: ``x`` (``(N, T, in)`` when
``batch_first``, else ``(T, N, in)``), optionally ``h0`` and ``c0`` ``(layers * directions, N,
hidden)``; outputs: the last layer's output sequence, ``h_n`` and ``c_n``, as torch.
"""

from __future__ import annotations

import numpy as np

from deepzip.engine import _lstm_kernels
from deepzip.engine._kernels import BATCH_TILE
from deepzip.engine.layout import EngineLayer
from deepzip.engine.parameters import Parameters, Part, product
from deepzip.engine.product import _bias, _gaps, _numba_threads, threads_for_work
from deepzip.graph import Node


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


class LSTMOp:
    def __init__(self, node: Node, params: Parameters) -> None:
        attrs = node.attrs
        self.node = node
        self.hidden = attrs["hidden_size"]
        self.layers = attrs["num_layers"]
        self.directions = 2 if attrs["bidirectional"] else 1
        self.batch_first = attrs["batch_first"]
        if self.hidden < 1 or self.layers < 1:
            raise ValueError(f"hidden_size {self.hidden} and num_layers {self.layers} must be >= 1")
        if params.model.has_parameters(f"{node.layer}.weight_hr_l0"):
            raise ValueError("an LSTM with proj_size (weight_hr_l*) is not supported")
        self.cells = []  # per layer, per direction: (W_ih, W_hh, b_ih + b_hh or None)
        for layer in range(self.layers):
            for direction in range(self.directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                (w_ih,) = params.matrix(node.layer, "weight_ih" + suffix, "lstm")
                (w_hh,) = params.matrix(node.layer, "weight_hh" + suffix, "lstm")
                inputs = self.hidden * self.directions if layer else None
                if w_ih.shape[0] != 4 * self.hidden or w_hh.shape != (4 * self.hidden, self.hidden):
                    raise ValueError(
                        f"weight_ih{suffix} {w_ih.shape} / weight_hh{suffix} {w_hh.shape} do not "
                        f"fit hidden_size {self.hidden}"
                    )
                if inputs is not None and w_ih.shape[1] != inputs:
                    raise ValueError(f"weight_ih{suffix} has {w_ih.shape[1]} inputs, not {inputs}")
                bias = None
                if attrs["has_biases"]:
                    bias = params.tensor(node.layer, "bias_ih" + suffix) + params.tensor(
                        node.layer, "bias_hh" + suffix
                    )
                self.cells.append((w_ih, w_hh, bias))

    def run(self, x: np.ndarray, h0=None, c0=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float32)
        inputs = self.cells[0][0].shape[1]
        if x.ndim != 3 or x.shape[2] != inputs:
            order = "(N, T, in)" if self.batch_first else "(T, N, in)"
            raise ValueError(f"needs a sequence {order} with in = {inputs}, got shape {x.shape}")
        sequence = x.transpose(1, 0, 2) if self.batch_first else x  # (T, N, in)
        batch = sequence.shape[1]
        state_shape = (self.layers * self.directions, batch, self.hidden)
        states = []
        for given, what in ((h0, "h0"), (c0, "c0")):
            if given is None:
                states.append(np.zeros(state_shape, dtype=np.float32))
            elif np.shape(given) != state_shape:
                raise ValueError(f"{what} must be {state_shape}, got {np.shape(given)}")
            else:
                states.append(np.asarray(given, dtype=np.float32))
        h_n, c_n = np.empty(state_shape, np.float32), np.empty(state_shape, np.float32)
        layer_input = sequence
        for layer in range(self.layers):
            outputs = []
            for direction in range(self.directions):
                k = layer * self.directions + direction
                out, h_n[k], c_n[k] = self._direction(
                    layer_input, self.cells[k], states[0][k], states[1][k], direction == 1
                )
                outputs.append(out)
            layer_input = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=2)
        output = layer_input.transpose(1, 0, 2) if self.batch_first else layer_input
        return np.ascontiguousarray(output), h_n, c_n

    def _direction(self, sequence, cell, h0, c0, reverse: bool):
        """One layer and direction over ``sequence`` ``(T, N, in)``: ``(T, N, H)``, h_T, c_T."""
        w_ih, w_hh, bias = cell
        steps, batch, _ = sequence.shape
        # W_ih x_t for every step at once: columns ordered (t, n).
        columns = np.ascontiguousarray(sequence.reshape(steps * batch, -1).T)
        projected = product(w_ih, columns).reshape(4 * self.hidden, steps, batch)
        if bias is not None:
            projected += bias[:, None, None]
        return recurrence(w_hh, projected, h0, c0, reverse)


def recurrence(w_hh: Part, projected, h0, c0, reverse: bool, threads: int | None = None):
    """All steps of one layer and direction: ``projected`` float32 ``(4 H, T, N)`` (``W_ih x_t``
    plus the biases), ``h0`` and ``c0`` ``(N, H)``; returns the outputs ``(T, N, H)``, h_T and
    c_T ``(N, H)``. A compressed ``W_hh`` runs all steps in one kernel call (``_lstm_kernels``);
    a plain one step by step (``recurrence_steps``). ``threads`` as in ``product``."""
    if not isinstance(w_hh, EngineLayer):
        return recurrence_steps(w_hh, projected, h0, c0, reverse)
    projected = np.ascontiguousarray(projected, dtype=np.float32)
    rows, steps, batch = projected.shape
    hidden = rows // 4
    if rows != 4 * hidden or w_hh.shape != (rows, hidden):
        raise ValueError(f"W_hh {w_hh.shape} does not fit projected gates {projected.shape}")
    # (H, N) copies: the kernel overwrites them with the final state.
    h = np.array(np.transpose(h0), dtype=np.float32, order="C")
    c = np.array(np.transpose(c0), dtype=np.float32, order="C")
    if h.shape != (hidden, batch) or c.shape != (hidden, batch):
        raise ValueError(f"h0 {np.shape(h0)} / c0 {np.shape(c0)} must be ({batch}, {hidden})")
    out = np.empty((steps, batch, hidden), dtype=np.float32)
    arguments = (w_hh.entries, _gaps(w_hh), w_hh.code_mask, w_hh.gap_shift, w_hh.col_ptr,
                 w_hh.codebook, _bias(w_hh, np.float32), projected, reverse, h, c, out)  # fmt: skip
    if batch == 1:
        _lstm_kernels.recurrence_vector_float32(*arguments)
    else:
        tiles = -(-batch // BATCH_TILE)
        work = w_hh.n_entries * batch * steps
        with _numba_threads(threads_for_work(tiles, work, threads)):
            _lstm_kernels.recurrence_batch_float32(*arguments)
    return out, h.T, c.T


def recurrence_steps(w_hh: Part, projected, h0, c0, reverse: bool):
    """``recurrence`` one step at a time, ``W_hh h`` by ``product``: the path of a plain
    ``W_hh``, and the slow reference of the kernels."""
    hidden = projected.shape[0] // 4
    steps, batch = projected.shape[1:]
    h = np.ascontiguousarray(np.transpose(h0), dtype=np.float32)  # (H, N): (cols, batch)
    c = np.array(np.transpose(c0), dtype=np.float32)
    out = np.empty((steps, batch, hidden), dtype=np.float32)
    for t in reversed(range(steps)) if reverse else range(steps):
        gates = projected[:, t] + product(w_hh, h)
        i = _sigmoid(gates[:hidden])
        f = _sigmoid(gates[hidden : 2 * hidden])
        g = np.tanh(gates[2 * hidden : 3 * hidden])
        o = _sigmoid(gates[3 * hidden :])
        c = f * c + i * g
        h = np.ascontiguousarray(o * np.tanh(c), dtype=np.float32)
        out[t] = h.T
    return out, h.T, c.T
