"""EIE's design-space exploration on the benchmark layers (Han et al. 2016, §VI, Figs. 8 and 11).

- Load-balance efficiency against the activation queue's depth (1 to 256, 64 PEs): the paper finds
  about half the cycles idle at depth 1 and little gain beyond 8, its chosen depth.
- Speedup against the number of PEs (1 to 256, FIFO 8), relative to one PE: near-linear except for
  NT-We, whose 600 rows leave PEs with few or no rows; 256 PEs give about 3.25x the throughput of
  64 on average.

``design_space`` computes both sweeps; ``deepzip.report.figures.design_space_figures`` draws them
as two PNG files with
matplotlib's Agg backend (imported only then).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from deepzip.sim.benchmarks import BENCHMARKS, benchmark_activations, benchmark_layer
from deepzip.sim.config import SimConfig
from deepzip.sim.simulator import prepare_layer, simulate_layer

FIFO_DEPTHS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
PE_COUNTS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class DesignSpace:
    """Both sweeps over the benchmark layers.

    Attributes:
        layers: benchmark names.
        fifo_depths, efficiency: ``efficiency[layer][i]`` is the load efficiency at
            ``fifo_depths[i]`` (with ``config.pes`` PEs).
        pes, cycles: ``cycles[layer][i]`` with ``pes[i]`` PEs (with ``config.fifo_depth``).
        config: the base configuration.
    """

    layers: tuple[str, ...]
    fifo_depths: tuple[int, ...]
    efficiency: dict[str, list[float]]
    pes: tuple[int, ...]
    cycles: dict[str, list[int]]
    config: SimConfig

    def speedup(self, layer: str) -> list[float]:
        """Throughput with ``pes[i]`` PEs over throughput with ``pes[0]``."""
        base = self.cycles[layer][0]
        return [base / c if c else float("inf") for c in self.cycles[layer]]

    def throughput_ratio(self, more: int, fewer: int) -> dict[str, float]:
        """Per layer, throughput with ``more`` PEs over throughput with ``fewer``."""
        i, j = self.pes.index(more), self.pes.index(fewer)
        return {name: self.cycles[name][j] / self.cycles[name][i] for name in self.layers}

    def to_dict(self) -> dict:
        return {
            "layers": list(self.layers),
            "fifo_depths": list(self.fifo_depths),
            "efficiency": self.efficiency,
            "pes": list(self.pes),
            "cycles": self.cycles,
            "speedup": {name: self.speedup(name) for name in self.layers},
        }


def design_space(
    layers: Sequence[str] = tuple(BENCHMARKS),
    fifo_depths: Sequence[int] = FIFO_DEPTHS,
    pes: Sequence[int] = PE_COUNTS,
    config: SimConfig | None = None,
    seed: int = 0,
) -> DesignSpace:
    """Sweep the FIFO depth (at ``config.pes``) and the PE count (at ``config.fifo_depth``) over
    the benchmark layers ``layers`` (default: all nine)."""
    config = SimConfig() if config is None else config
    efficiency: dict[str, list[float]] = {}
    cycles: dict[str, list[int]] = {}
    for name in layers:
        layer = benchmark_layer(name, seed)
        x = benchmark_activations(name, seed)
        prepared = prepare_layer(layer, config)
        efficiency[name] = [
            simulate_layer(prepared, x, dataclasses.replace(config, fifo_depth=d)).load_efficiency
            for d in fifo_depths
        ]
        cycles[name] = [
            simulate_layer(layer, x, dataclasses.replace(config, pes=n)).cycles for n in pes
        ]
        del layer, prepared
    return DesignSpace(tuple(layers), tuple(fifo_depths), efficiency, tuple(pes), cycles, config)
