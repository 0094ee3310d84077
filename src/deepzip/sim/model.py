"""Simulate every compressed layer of a model (a .dzip file or a ``CompressedModel``) on EIE.

Each compressed layer is one matrix-vector product on one input vector. Where the activations
come from:

- a network that can be followed (the model has a network description): a random input of
  ``input_density`` (values uniform in (0.01, 1], like normalised pixels) goes through the network
  op by op; each compressed ``linear`` layer is simulated on the vector that reaches it, and its
  simulated 16-bit output (with the bias and a following ReLU, as EIE writes it back) is what the
  next op sees. Plain (uncompressed) linear layers, ReLU, dropout and flatten are applied in float.
  The activation densities are then the ReLU densities of this input through this model.
- a layer whose input cannot be followed (no network, or after a convolution or pooling, whose
  spatial input size a .dzip does not record): a random vector with ``activation_density``
  non-zeros. A ``conv2d`` layer is simulated as one output position (its flattened weight times
  one random patch); its cycles are per output position.

``SimResult.to_dict`` rows are collected under ``layers`` with the activation source of each.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.sim.config import SimConfig
from deepzip.sim.simulator import SimResult, simulate_layer


@dataclass(frozen=True, eq=False)
class ModelSimResult:
    """Per-layer results of a whole model, in network order (file order without a network).

    ``sources[i]`` says where layer ``i``'s input came from: ``"network"`` (followed through the
    network), ``"random input"`` (the network's own input) or ``"random"`` (unknown input).
    """

    config: SimConfig
    layers: list[SimResult]
    sources: list[str]

    @property
    def cycles(self) -> int:
        return sum(r.cycles for r in self.layers)

    @property
    def latency_us(self) -> float:
        return sum(r.latency_us for r in self.layers)

    @property
    def energy_uj(self) -> float:
        return sum(r.energy_uj for r in self.layers)

    @property
    def load_efficiency(self) -> float:
        total = sum(r.config.pes * r.cycles for r in self.layers)
        return sum(r.busy_cycles for r in self.layers) / total if total else 1.0

    def to_dict(self) -> dict:
        layers = []
        for result, source in zip(self.layers, self.sources):
            row = result.to_dict()
            row["activations"] = source
            layers.append(row)
        return {
            "layers": layers,
            "total": {
                "cycles": self.cycles,
                "latency_us": self.latency_us,
                "load_efficiency": self.load_efficiency,
                "energy_uj": self.energy_uj,
            },
        }


def _random_vector(rng: np.random.Generator, size: int, density: float) -> np.ndarray:
    x = np.zeros(size, dtype=np.float32)
    count = round(density * size)
    positions = rng.choice(size, size=count, replace=False)
    x[positions] = 0.01 + 0.99 * (1.0 - rng.random(count, dtype=np.float32))
    return x


def _with_bias(layer: CompressedLayer, model: CompressedModel) -> CompressedLayer:
    """The layer with the bias a model keeps among its plain tensors, as the engine uses it."""
    extra = model.tensors.get(f"{layer.name}.bias")
    if extra is None:
        return layer
    return dataclasses.replace(layer, bias=np.asarray(extra, dtype=np.float32))


def simulate_file(
    path_or_model: str | Path | CompressedModel,
    config: SimConfig | None = None,
    seed: int = 0,
    input_density: float = 1.0,
    activation_density: float = 0.5,
) -> ModelSimResult:
    """Simulate each compressed layer of a .dzip file (or a ``CompressedModel``) on EIE.

    Args:
        path_or_model: a .dzip path (read with ``deepzip.container.read_dzip``) or the model.
        config: the accelerator (default ``SimConfig()``).
        seed: seeds the random input and the random activations.
        input_density: non-zero fraction of the network's random input.
        activation_density: non-zero fraction of a layer input that cannot be followed.
    """
    for name, value in (
        ("input_density", input_density),
        ("activation_density", activation_density),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if isinstance(path_or_model, CompressedModel):
        model = path_or_model
    else:
        from deepzip.container import read_dzip

        model = read_dzip(path_or_model)
    config = SimConfig() if config is None else config
    rng = np.random.default_rng(seed)
    compressed = {layer.name: layer for layer in model.layers}
    results: list[SimResult] = []
    sources: list[str] = []

    def run(layer: CompressedLayer, x: np.ndarray | None, relu: bool, source: str) -> SimResult:
        cols = layer.num_weights // layer.codes.shape[0]
        if x is None or x.shape != (cols,):
            x, source = _random_vector(rng, cols, activation_density), "random"
        result = simulate_layer(_with_bias(layer, model), x, config, relu=relu)
        results.append(result)
        sources.append(source)
        return result

    if model.network is None:
        for layer in model.layers:
            run(layer, None, False, "random")
        return ModelSimResult(config, results, sources)

    graph = model.network
    consumers = graph.consumers()
    # One sample's activation per graph value, where it is a known vector; None where it is not
    # (the spatial activations of convolutions and pooling are not followed).
    values: dict[str, np.ndarray | None] = {}
    # Values that are the network's input, perhaps flattened: a linear layer there gets the
    # random input (``input_density``), not a random activation.
    from_input = {value.name for value in graph.inputs}
    for node in graph.nodes:
        x = values.get(node.inputs[0]) if node.inputs else None
        out: np.ndarray | None = None
        readers = consumers.get(node.outputs[0], []) if node.outputs else []
        relu_next = len(readers) == 1 and readers[0].op == "relu"
        if node.op == "linear" and node.layer in compressed:
            layer = compressed[node.layer]
            cols = layer.num_weights // layer.codes.shape[0]
            source = "network"
            if x is None and node.inputs[0] in from_input:
                x, source = _random_vector(rng, cols, input_density), "random input"
            out = run(layer, x, relu_next, source).output
        elif node.op == "linear" and x is not None:
            weight = np.asarray(model.tensors[f"{node.layer}.weight"], dtype=np.float32)
            bias = model.tensors.get(f"{node.layer}.bias")
            if weight.ndim == 2 and weight.shape[1] == x.shape[0]:
                out = weight @ x + (0 if bias is None else np.asarray(bias, dtype=np.float32))
        elif node.op == "relu" and x is not None:
            out = np.maximum(x, 0)
        elif node.op in ("flatten", "reshape"):
            flat = node.op == "flatten" or len(node.attrs["shape"]) == 1
            out = x if flat else None  # a 1-D activation is already flat
            if node.inputs[0] in from_input:
                from_input.add(node.outputs[0])
        elif node.layer in compressed:  # convolutions, LSTM, embedding: random inputs
            run(compressed[node.layer], None, relu_next, "random")
        for name in node.outputs:
            values[name] = out if name == node.outputs[0] else None
    done = {r.name for r in results}
    for layer in model.layers:  # compressed layers the network does not use
        if layer.name not in done:
            run(layer, None, False, "random")
    return ModelSimResult(config, results, sources)
