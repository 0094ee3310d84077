"""The event-driven kernel against the literal cycle-by-cycle simulator, on random small layers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deepzip.compressed import CompressedLayer
from deepzip.sim import SimConfig, _kernels, prepare_layer, simulate_layer
from deepzip.sim.reference import eie_pass_reference
from deepzip.sim.simulator import quantize_input


@st.composite
def cases(draw):
    rows = draw(st.integers(1, 20))
    cols = draw(st.integers(1, 14))
    density = draw(st.sampled_from([0.0, 0.1, 0.3, 0.7, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, cols)) < density
    weight_bits = draw(st.sampled_from([2, 4, 6]))
    codes = np.where(mask, rng.integers(1, 2**weight_bits, (rows, cols)), 0).astype(np.uint8)
    codebook = np.concatenate([[0.0], rng.normal(size=2**weight_bits - 1)]).astype(np.float32)
    index_bits = draw(st.integers(1, 4))
    layer = CompressedLayer("t", "linear", codebook, codes, mask, None, weight_bits, index_bits)
    x_density = draw(st.sampled_from([0.0, 0.3, 0.8, 1.0]))
    x = np.where(rng.random(cols) < x_density, rng.normal(size=cols), 0.0)
    config = SimConfig(
        pes=draw(st.integers(1, 6)),
        fifo_depth=draw(st.integers(1, 4)),
        sram_width_bits=draw(st.sampled_from([8, 16, 64])),
        output_registers_per_pe=draw(st.integers(0, 3)),
        pointer_read=draw(st.sampled_from(["pipelined", "serial"])),
    )
    return layer, x, config


@settings(max_examples=400, deadline=None)
@given(cases())
def test_kernel_equals_cycle_by_cycle(case):
    layer, x, config = case
    prepared = prepare_layer(layer, config)
    xq, _ = quantize_input(x, prepared.shape[1])
    active = np.flatnonzero(xq).astype(np.int64)
    pipelined = config.pointer_read == "pipelined"
    for part in prepared.passes:
        gaps = part.entries if part.gaps is None else part.gaps
        args = (part.entries, gaps, part.code_mask, part.gap_shift, part.col_ptr,
                prepared.codebook16, xq)  # fmt: skip
        acc = np.zeros((config.pes, part.local_rows), dtype=np.int64)
        busy = np.zeros(config.pes, dtype=np.int64)
        counts = np.zeros(_kernels.N_COUNTS, dtype=np.int64)
        cycles = _kernels.eie_pass(
            *args, active, prepared.entries_per_word(config), config.fifo_depth, pipelined,
            acc, busy, counts,
        )  # fmt: skip
        ref_cycles, ref_acc, ref_busy, ref_counts = eie_pass_reference(
            *args, prepared.entries_per_word(config), config.fifo_depth, pipelined, part.local_rows
        )
        assert cycles == ref_cycles
        assert busy.tolist() == ref_busy.tolist()
        assert counts.tolist() == ref_counts.tolist()
        assert np.array_equal(acc, ref_acc)


def test_stalls_happen_and_agree():
    # A dense 4-PE layer with a shallow queue and uneven columns: the broadcast must stall.
    rng = np.random.default_rng(5)
    codes = np.zeros((32, 24), dtype=np.uint8)
    for c in range(24):
        heavy = c % 4
        codes[heavy::4, c] = rng.integers(1, 16, 8)
    layer = CompressedLayer("s", "linear", np.linspace(0, 1, 16, dtype=np.float32), codes,
                            codes != 0, None, 4, 4)  # fmt: skip
    config = SimConfig(pes=4, fifo_depth=1, output_registers_per_pe=0)
    result = simulate_layer(layer, np.ones(24), config)
    assert result.stall_cycles > 0
    part = prepare_layer(layer, config).passes[0]
    xq, _ = quantize_input(np.ones(24), 24)
    ref_cycles, *_ = eie_pass_reference(
        part.entries, part.entries, part.code_mask, part.gap_shift, part.col_ptr,
        prepare_layer(layer, config).codebook16, xq, 8, 1, True, part.local_rows,
    )  # fmt: skip
    assert result.cycles == ref_cycles
