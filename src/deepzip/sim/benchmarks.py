"""EIE's benchmark layers (Han et al. 2016, Table III) as synthetic compressed layers, and the
paper's timing (Table IV) and energy (Table V) for comparison.

Each layer has the paper's shape (inputs x outputs), weight density and activation density. The
kept positions are random (each weight kept with probability = the density), codes uniform over
the 15 non-zero entries of a 16-entry codebook (code 0 = the exact zero), 4-bit relative indices;
the input has exactly ``round(activation density x inputs)`` non-zeros at random positions, values
uniform in (0.01, 1] (ReLU outputs; none rounds to zero in 16-bit fixed point). Everything is
drawn from ``seed``; weights and activations use separate streams.

Random positions are not the real networks' sparsity patterns: the real layers' rows and columns
vary in density, which costs more filler zeros and more load imbalance (see docs/SIMULATOR.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepzip.compressed import CompressedLayer
from deepzip.sim.config import SimConfig
from deepzip.sim.simulator import SimResult, simulate_layer

WEIGHT_BITS = 4
INDEX_BITS = 4
CODEBOOK = np.array([0.0, *[v / 64 for v in range(-7, 9) if v != 0]], dtype=np.float32)
"""16 entries: the exact zero, then 15 shared weights (-7/64 .. 8/64)."""


@dataclass(frozen=True)
class BenchmarkLayer:
    """One row of EIE's Table III, with Table IV's EIE times (µs, 64 PEs, 800 MHz)."""

    name: str
    inputs: int
    outputs: int
    weight_density: float
    activation_density: float
    description: str
    theoretical_us: float
    actual_us: float


BENCHMARKS: dict[str, BenchmarkLayer] = {
    b.name: b
    for b in (
        BenchmarkLayer("alex-6", 9216, 4096, 0.09, 0.351, "AlexNet fc6", 28.1, 30.3),
        BenchmarkLayer("alex-7", 4096, 4096, 0.09, 0.353, "AlexNet fc7", 11.7, 12.2),
        BenchmarkLayer("alex-8", 4096, 1000, 0.25, 0.375, "AlexNet fc8", 8.9, 9.9),
        BenchmarkLayer("vgg-6", 25088, 4096, 0.04, 0.183, "VGG-16 fc6", 28.1, 34.4),
        BenchmarkLayer("vgg-7", 4096, 4096, 0.04, 0.375, "VGG-16 fc7", 7.9, 8.7),
        BenchmarkLayer("vgg-8", 4096, 1000, 0.23, 0.411, "VGG-16 fc8", 7.3, 8.4),
        BenchmarkLayer("nt-we", 4096, 600, 0.10, 1.0, "NeuralTalk We", 5.2, 8.0),
        BenchmarkLayer("nt-wd", 600, 8791, 0.11, 1.0, "NeuralTalk Wd", 13.0, 13.9),
        BenchmarkLayer("nt-lstm", 1201, 2400, 0.10, 1.0, "NeuralTalk LSTM", 6.5, 7.5),
    )
}

TABLE_V_EIE = {
    "layer": "alex-7",
    "frames_per_s": 81_967.0,
    "power_w": 0.59,
    "frames_per_j": 138_927.0,
}
"""EIE's column of Table V (AlexNet fc7, batch 1, 64 PEs)."""

_ROWS_PER_CHUNK = 256  # rows drawn at a time: bounds the temporary float32 array


def _spec(name: str) -> BenchmarkLayer:
    try:
        return BENCHMARKS[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown benchmark layer {name!r}; choose one of {', '.join(BENCHMARKS)}"
        ) from None


def _rng(name: str, seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, list(BENCHMARKS).index(name), stream])


def benchmark_layer(name: str, seed: int = 0) -> CompressedLayer:
    """The synthetic compressed layer ``name`` (``"alex-6"`` ... ``"nt-lstm"``), weight
    ``(outputs, inputs)``, 4-bit codes and indices, no bias."""
    spec = _spec(name)
    rng = _rng(spec.name, seed, 0)
    shape = (spec.outputs, spec.inputs)
    codes = np.empty(shape, dtype=np.uint8)
    for r0 in range(0, spec.outputs, _ROWS_PER_CHUNK):
        r1 = min(r0 + _ROWS_PER_CHUNK, spec.outputs)
        kept = rng.random((r1 - r0, spec.inputs), dtype=np.float32) < spec.weight_density
        chunk = rng.integers(1, 2**WEIGHT_BITS, (r1 - r0, spec.inputs), dtype=np.uint8)
        codes[r0:r1] = np.where(kept, chunk, np.uint8(0))
    return CompressedLayer(
        name=spec.name,
        kind="linear",
        codebook=CODEBOOK.copy(),
        codes=codes,
        mask=codes != 0,
        bias=None,
        weight_bits=WEIGHT_BITS,
        index_bits=INDEX_BITS,
        metadata={"benchmark": spec.description, "seed": seed},
    )


def benchmark_activations(name: str, seed: int = 0) -> np.ndarray:
    """The input of benchmark layer ``name``: float32 ``(inputs,)``, exactly
    ``round(activation density x inputs)`` non-zeros, uniform in (0.01, 1]."""
    spec = _spec(name)
    rng = _rng(spec.name, seed, 1)
    count = round(spec.activation_density * spec.inputs)
    x = np.zeros(spec.inputs, dtype=np.float32)
    positions = rng.choice(spec.inputs, size=count, replace=False)
    x[positions] = 0.01 + 0.99 * (1.0 - rng.random(count, dtype=np.float32))
    return x


def simulate_benchmark(name: str, config: SimConfig | None = None, seed: int = 0) -> SimResult:
    """Simulate benchmark layer ``name`` on its input (``benchmark_layer``,
    ``benchmark_activations``) with ``config`` (default: EIE's 64 PEs, FIFO 8, 800 MHz)."""
    return simulate_layer(benchmark_layer(name, seed), benchmark_activations(name, seed), config)
