"""Cycle-level simulator of the EIE accelerator (Han et al., ISCA 2016) on compressed layers.

- ``SimConfig`` / ``EnergyConfig``: the accelerator (64 PEs, FIFO depth 8, 800 MHz, 64-bit
  sparse-matrix SRAM) and its per-event energies, calibrated to the paper's Table II.
- ``simulate_layer``: one compressed layer on one input vector: cycles, latency, load efficiency,
  stalls, SRAM reads, arithmetic, GOP/s, energy, and the functional output (bit-exact with the
  engine's 16-bit fixed point). ``prepare_layer`` lays a layer out once for many runs.
- ``simulate_benchmark`` / ``benchmark_layer``: the paper's nine benchmark layers (Table III).
- ``simulate_file``: every compressed layer of a .dzip file or ``CompressedModel``.
- ``design_space``: load efficiency vs FIFO depth and speedup vs PEs (drawn by
  ``deepzip.report.figures.design_space_figures``).

The model and its calibration are described in docs/SIMULATOR.md.
"""

from deepzip.sim.benchmarks import (
    BENCHMARKS,
    TABLE_V_EIE,
    BenchmarkLayer,
    benchmark_activations,
    benchmark_layer,
    simulate_benchmark,
)
from deepzip.sim.config import SimConfig
from deepzip.sim.design_space import DesignSpace, design_space
from deepzip.sim.energy import EnergyConfig, steady_state_power_mw
from deepzip.sim.model import ModelSimResult, simulate_file
from deepzip.sim.simulator import (
    EventCounts,
    PreparedLayer,
    SimResult,
    prepare_layer,
    simulate_layer,
)

__all__ = [
    "BENCHMARKS",
    "TABLE_V_EIE",
    "BenchmarkLayer",
    "DesignSpace",
    "EnergyConfig",
    "EventCounts",
    "ModelSimResult",
    "PreparedLayer",
    "SimConfig",
    "SimResult",
    "benchmark_activations",
    "benchmark_layer",
    "design_space",
    "prepare_layer",
    "simulate_benchmark",
    "simulate_file",
    "simulate_layer",
    "steady_state_power_mw",
]
