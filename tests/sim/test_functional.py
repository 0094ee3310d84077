"""The simulator's functional output against the engine, and its counts against each other."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepzip.compressed import CompressedLayer
from deepzip.engine import EngineLayer, sparse_matvec_fixed16
from deepzip.engine import fixed_point as fx
from deepzip.sim import SimConfig, prepare_layer, simulate_layer


def random_layer(rng, rows, cols, density, index_bits=4, bias=True, kind="linear"):
    shape = (rows, cols) if kind == "linear" else (rows, cols, 3, 3)
    mask = rng.random(shape) < density
    codes = np.where(mask, rng.integers(1, 16, shape), 0).astype(np.uint8)
    codebook = np.concatenate([[0.0], rng.normal(scale=0.1, size=15)]).astype(np.float32)
    b = rng.normal(size=rows).astype(np.float32) if bias else None
    return CompressedLayer("l", kind, codebook, codes, mask, b, 4, index_bits)


def random_input(rng, cols, density):
    x = np.where(rng.random(cols) < density, rng.normal(size=cols), 0.0).astype(np.float32)
    x[rng.integers(cols)] = 0.75  # at least one non-zero (see the all-zero note below)
    return x


def engine_fixed16(layer, x, relu, pes=3):
    """The engine's 16-bit result for one input, formats chosen as its runner chooses them."""
    codebook, weight_frac = fx.quantize_weights(layer.codebook)
    xq, activation_frac = fx.quantize_activations(x[:, None])
    scale = float(fx.bias_scales(weight_frac, activation_frac)[0])
    engine = EngineLayer.from_compressed(layer, pes)
    return sparse_matvec_fixed16(engine, codebook, xq[:, 0], scale, relu), weight_frac + int(
        activation_frac[0]
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 150),
    cols=st.integers(1, 60),
    pes=st.integers(1, 9),
    registers=st.integers(0, 4),
    index_bits=st.integers(1, 4),
    relu=st.booleans(),
)
def test_output_equals_engine_fixed16(seed, rows, cols, pes, registers, index_bits, relu):
    rng = np.random.default_rng(seed)
    layer = random_layer(rng, rows, cols, 0.2, index_bits)
    x = random_input(rng, cols, 0.5)
    config = SimConfig(pes=pes, output_registers_per_pe=registers)
    result = simulate_layer(layer, x, config, relu=relu)
    expected, frac = engine_fixed16(layer, x, relu)
    assert result.output_fraction_bits == frac
    assert result.output_fixed.dtype == np.int64
    assert np.array_equal(result.output_fixed, expected)


def test_output_within_fixed_point_error_of_float():
    rng = np.random.default_rng(0)
    layer = random_layer(rng, 300, 200, 0.1)
    x = random_input(rng, 200, 0.4)
    result = simulate_layer(layer, x, SimConfig(pes=8))
    dense = layer.dense_weight().astype(np.float64)
    exact = dense @ x.astype(np.float64) + layer.bias
    # Each product errs by at most |w| da + |a| dw + da dw (da, dw: half a step of each format),
    # the bias by half a step of the output format.
    _, wf = fx.quantize_weights(layer.codebook)
    _, af = fx.quantize_activations(x[:, None])
    dw, da = 2.0 ** -(wf + 1), 2.0 ** -(int(af[0]) + 1)
    kept = dense != 0
    bound = (np.abs(dense) * da + kept * (np.abs(x) * dw + da * dw)).sum(axis=1)
    bound += 2.0 ** -(result.output_fraction_bits + 1) + 1e-6 * np.abs(exact)  # float32 output
    assert np.all(np.abs(result.output - exact) <= bound)
    assert np.abs(result.output - exact).max() < 1e-2


def test_conv_layer_is_its_flattened_matrix():
    rng = np.random.default_rng(1)
    layer = random_layer(rng, 20, 4, 0.3, kind="conv2d")
    x = random_input(rng, 36, 0.6)
    result = simulate_layer(layer, x, SimConfig(pes=4))
    assert result.kind == "conv2d" and result.shape == (20, 36)
    expected, _ = engine_fixed16(layer, x, relu=False)
    assert np.array_equal(result.output_fixed, expected)


def test_counts_are_consistent():
    rng = np.random.default_rng(2)
    layer = random_layer(rng, 257, 90, 0.05, index_bits=3)
    x = random_input(rng, 90, 0.3)
    config = SimConfig(pes=8, output_registers_per_pe=16)  # 128 rows per pass: 3 passes
    result = simulate_layer(layer, x, config)
    c = result.counts
    assert result.passes == 3
    nonzero = np.flatnonzero(fx.quantize_activations(x[:, None])[0][:, 0])
    assert result.nonzero_activations == nonzero.size
    assert c.broadcasts == 3 * nonzero.size
    assert c.queue_pushes == c.pointer_reads_even == c.pointer_reads_odd == 8 * c.broadcasts
    # Multiplies are the kept weights met by a non-zero activation; fillers add entries only.
    assert c.multiplies == c.adds == c.codebook_lookups == c.accumulator_updates
    assert c.multiplies == int(layer.mask[:, nonzero].sum())
    assert c.entries == c.multiplies + c.filler_zeros == c.address_adds
    assert c.filler_zeros > 0
    assert result.busy_cycles == c.entries
    parts = prepare_layer(layer, config).passes
    assert result.stored_entries == sum(p.n_entries for p in parts) >= c.entries
    assert result.stored_fillers == sum(p.n_fillers for p in parts) >= c.filler_zeros
    assert -(-c.entries // 8) <= c.sparse_matrix_reads <= c.entries
    assert c.activation_reads == 3 * 90 and c.activation_writes == 257
    assert result.starvation_cycles == 8 * result.cycles - c.entries
    assert 0 < result.load_efficiency <= 1
    assert result.gops == pytest.approx(2 * c.multiplies / (result.cycles / 800e6) / 1e9)


def test_all_zero_input_takes_no_cycles():
    layer = random_layer(np.random.default_rng(3), 10, 10, 0.5, bias=False)
    result = simulate_layer(layer, np.zeros(10), SimConfig(pes=2))
    assert result.cycles == 0 and result.counts.entries == 0
    assert result.load_efficiency == 1.0
    assert not result.output_fixed.any()


def test_rejects_bad_input():
    layer = random_layer(np.random.default_rng(4), 10, 10, 0.5)
    with pytest.raises(ValueError, match="shape"):
        simulate_layer(layer, np.ones(9))
    with pytest.raises(ValueError, match="finite"):
        simulate_layer(layer, np.full(10, np.nan))
    prepared_for_2 = prepare_layer(layer, SimConfig(pes=2))
    with pytest.raises(ValueError, match="prepared"):
        simulate_layer(prepared_for_2, np.ones(10), SimConfig(pes=4))
