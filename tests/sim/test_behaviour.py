"""Monotonic behaviour, the energy calibration, the benchmark layers and the model-level API."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.config import from_json, to_json
from deepzip.container import write_dzip
from deepzip.graph.legacy import graph_from_v1
from deepzip.report.figures import design_space_figures
from deepzip.sim import (
    BENCHMARKS,
    EnergyConfig,
    SimConfig,
    benchmark_activations,
    benchmark_layer,
    design_space,
    prepare_layer,
    simulate_benchmark,
    simulate_file,
    simulate_layer,
    steady_state_power_mw,
)

CODEBOOK = np.linspace(0.0, 1.0, 16, dtype=np.float32)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    pes=st.integers(1, 8),
    mode=st.sampled_from(["pipelined", "serial"]),
)
def test_deeper_fifo_never_less_efficient(seed, pes, mode):
    rng = np.random.default_rng(seed)
    mask = rng.random((48, 40)) < rng.uniform(0.02, 0.5)
    layer = CompressedLayer("f", "linear", CODEBOOK, mask.astype(np.uint8) * 7, mask, None, 4, 4)
    x = (rng.random(40) < 0.6).astype(np.float32)
    prepared = prepare_layer(layer, SimConfig(pes=pes))
    previous = None
    for depth in (1, 2, 3, 4, 8, 16, 64):
        result = simulate_layer(
            prepared, x, SimConfig(pes=pes, fifo_depth=depth, pointer_read=mode)
        )
        if previous is not None:
            assert result.cycles <= previous.cycles
            assert result.load_efficiency >= previous.load_efficiency
        previous = result


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), fifo=st.integers(1, 8))
def test_more_pes_never_slower_on_a_balanced_layer(seed, fifo):
    # Column-structured sparsity: a column is kept whole or pruned whole, so every PE holds the
    # same number of entries in every column, for any PE count dividing the 64 rows.
    rng = np.random.default_rng(seed)
    kept_columns = rng.random(30) < 0.5
    mask = np.broadcast_to(kept_columns, (64, 30)).copy()
    codes = np.where(mask, rng.integers(1, 16, (64, 30)), 0).astype(np.uint8)
    layer = CompressedLayer("b", "linear", CODEBOOK, codes, mask, None, 4, 4)
    x = np.where(rng.random(30) < 0.7, 1.0, 0.0)
    cycles = [
        simulate_layer(layer, x, SimConfig(pes=p, fifo_depth=fifo)).cycles
        for p in (1, 2, 4, 8, 16, 32, 64)
    ]
    assert all(a >= b for a, b in itertools.pairwise(cycles))


def test_energy_calibration_is_table_ii():
    assert steady_state_power_mw(EnergyConfig()) == pytest.approx(9.157, abs=1e-9)
    assert 64 * steady_state_power_mw(EnergyConfig()) == pytest.approx(586.0, abs=0.1)


def test_a_fully_busy_pe_in_the_steady_state_draws_table_ii_power():
    # One column of 8 entries per activation, 8 entries per 64-bit word, columns aligned to words
    # and a deep queue: after the start-up, one entry per cycle.
    cols = 400
    codes = np.full((8, cols), 3, dtype=np.uint8)
    layer = CompressedLayer("busy", "linear", CODEBOOK, codes, codes != 0, None, 4, 4)
    result = simulate_layer(layer, np.ones(cols), SimConfig(pes=1, fifo_depth=8))
    assert result.counts.sparse_matrix_reads == cols
    assert result.cycles == 8 * cols + 3  # broadcast, pop, pointers, then entries back to back
    # Less the activation reads and output writes the steady state does not count:
    e = result.config.energy
    extra = (cols * e.activation_read + 8 * e.activation_write) * 1e-6
    power_mw = (result.energy_uj - extra) * 1e-6 / (result.cycles / 800e6) * 1e3
    assert power_mw == pytest.approx(9.157, rel=1e-2)


def test_config_json_round_trip():
    config = SimConfig(pes=16, fifo_depth=4, pointer_read="serial",
                       energy=EnergyConfig(multiply=2.0))  # fmt: skip
    assert from_json(SimConfig, to_json(config)) == config
    for bad in ({"pes": 0}, {"fifo_depth": 0}, {"clock_hz": 0.0}, {"pointer_read": "x"},
                {"output_registers_per_pe": -1}, {"sram_width_bits": 4}):  # fmt: skip
        with pytest.raises(ValueError):
            SimConfig(**bad)
    with pytest.raises(ValueError):
        EnergyConfig(multiply=-1.0)


def test_benchmark_layers_match_table_iii():
    assert list(BENCHMARKS) == ["alex-6", "alex-7", "alex-8", "vgg-6", "vgg-7", "vgg-8",
                                "nt-we", "nt-wd", "nt-lstm"]  # fmt: skip
    spec = BENCHMARKS["nt-lstm"]
    layer = benchmark_layer("nt-lstm", seed=3)
    x = benchmark_activations("nt-lstm", seed=3)
    assert layer.weight_shape == (spec.outputs, spec.inputs)
    assert abs(layer.density - spec.weight_density) < 0.005
    assert len(layer.codebook) == 16 and layer.weight_bits == layer.index_bits == 4
    assert np.count_nonzero(x) == round(spec.activation_density * spec.inputs)
    assert np.array_equal(benchmark_layer("nt-lstm", seed=3).codes, layer.codes)  # seeded
    assert not np.array_equal(benchmark_layer("nt-lstm", seed=4).codes, layer.codes)
    with pytest.raises(ValueError, match="unknown benchmark"):
        benchmark_layer("alex-9")


def test_simulate_benchmark_to_json():
    result = simulate_benchmark("nt-lstm", SimConfig(), seed=0)
    row = json.loads(json.dumps(result.to_dict()))
    for key in ("cycles", "latency_us", "load_efficiency", "energy_uj", "stall_cycles", "gops"):
        assert key in row
    assert row["counts"]["multiplies"] == result.counts.multiplies
    # Within a factor of two of Table IV's actual time (the reproduction script checks ±15%).
    assert 0.5 < result.latency_us / BENCHMARKS["nt-lstm"].actual_us < 2.0


def small_mlp(rng) -> CompressedModel:
    layers = []
    for name, (out, inp) in (("fc1", (40, 30)), ("fc2", (10, 40))):
        mask = rng.random((out, inp)) < 0.4
        codes = np.where(mask, rng.integers(1, 16, (out, inp)), 0).astype(np.uint8)
        codebook = np.concatenate([[0.0], rng.normal(scale=0.3, size=15)]).astype(np.float32)
        bias = rng.normal(scale=0.1, size=out).astype(np.float32)
        layers.append(CompressedLayer(name, "linear", codebook, codes, mask, bias, 4, 4))
    ops = [("flatten", None, (1, -1)), ("linear", "fc1", ()), ("relu", None, ()),
           ("dropout", None, ()), ("linear", "fc2", ())]  # fmt: skip
    network = graph_from_v1(ops)
    return CompressedModel(layers, network)


def test_simulate_file_follows_the_network(tmp_path):
    model = small_mlp(np.random.default_rng(0))
    path = tmp_path / "mlp.dzip"
    write_dzip(path, model)
    result = simulate_file(path, SimConfig(pes=4), seed=1)
    assert [r.name for r in result.layers] == ["fc1", "fc2"]
    assert result.sources == ["random input", "network"]
    fc1, fc2 = result.layers
    # fc1's ReLU output (as simulated) is fc2's input: its zeros are fc2's skipped columns.
    assert fc2.nonzero_activations == np.count_nonzero(fc1.output_fixed > 0)
    assert fc1.nonzero_activations == 30  # input density 1.0
    out = json.loads(json.dumps(result.to_dict()))
    assert [row["name"] for row in out["layers"]] == ["fc1", "fc2"]
    assert out["total"]["cycles"] == fc1.cycles + fc2.cycles
    assert simulate_file(model, SimConfig(pes=4), seed=1).cycles == result.cycles


def test_simulate_file_without_network_uses_random_activations():
    model = dataclasses.replace(small_mlp(np.random.default_rng(0)), network=None)
    result = simulate_file(model, SimConfig(pes=4), activation_density=0.5)
    assert result.sources == ["random", "random"]
    assert [r.nonzero_activations for r in result.layers] == [15, 20]


def test_design_space_and_figures(tmp_path):
    space = design_space(layers=["nt-lstm"], fifo_depths=(1, 8, 64), pes=(1, 16, 64))
    efficiency = space.efficiency["nt-lstm"]
    assert efficiency == sorted(efficiency)
    assert space.speedup("nt-lstm")[0] == 1.0 and space.speedup("nt-lstm")[-1] > 30
    paths = design_space_figures(tmp_path, space)
    assert [p.name for p in paths] == ["fifo_depth_efficiency.png", "pe_speedup.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    assert json.loads(json.dumps(space.to_dict()))["pes"] == [1, 16, 64]
