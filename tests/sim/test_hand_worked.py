"""Cycle counts worked out by hand on EIE's Fig. 2/3 example (16 x 8 matrix, 4 PEs).

The cycle model (docs/SIMULATOR.md, ``deepzip/sim/_kernels.py``), in the symbols used below:

- activation k is broadcast in cycle b[k]; b[0] = 0 and b[k] = max(b[k-1] + 1, Q[k-D] + 1), where
  Q[k] is the latest pop of activation k over the PEs and D the FIFO depth ("full" is seen at the
  start of a cycle, so a slot freed by a pop is usable one cycle later);
- PE p pops activation k at the end of cycle q = max(b[k] + 1, R) (R: the end of the cycle in
  which its pointer stage let the previous column go) and reads the pointers in cycle q + 1;
- pipelined: an empty column leaves at the end of q + 1 (R = q + 1); a column of n entries moves
  to the sparse-matrix stage at the end of r = max(q + 1, L), L the stage's last entry cycle of the
  previous column, and occupies cycles r + 1 .. r + n (L = r + n, R = r);
- serial: entries in q + 2 .. q + 1 + n and R = q + 1 + n;
- the layer takes 1 + (last cycle with a pointer read or an entry) cycles.

The matrix: PE 0's slice is Fig. 3 of the paper exactly (virtual weights W0,0 W8,0 W12,0 W4,1 W0,2
W12,2 W0,4 W4,4 W0,5 W12,5 W0,6 W8,7 W12,7, relative row indices 0 1 0 1 0 2 0 0 0 2 0 2 0,
column pointers 0 3 4 6 6 8 10 11 13). The paper's text fixes column 2 of the other PEs (PE 1 has
none, PE 2 holds W2,2 and W14,2); the rest of PEs 1-3 is ours, chosen to load them unevenly. The
input a = (0, 0, a2, 0, a4, a5, 0, a7): the first non-zero is a2, as in the paper.
"""

from __future__ import annotations

import numpy as np

from deepzip.compressed import CompressedLayer
from deepzip.engine import EngineLayer
from deepzip.sim import SimConfig, simulate_layer

# (row, column) of every non-zero weight.
FIG2_POSITIONS = [
    # PE 0 (rows 0, 4, 8, 12): Fig. 3.
    (0, 0), (8, 0), (12, 0), (4, 1), (0, 2), (12, 2), (0, 4), (4, 4), (0, 5), (12, 5), (0, 6),
    (8, 7), (12, 7),
    # PE 1 (rows 1, 5, 9, 13): nothing in column 2 (paper); a full column 4.
    (5, 0), (1, 3), (9, 3), (1, 4), (5, 4), (9, 4), (13, 4), (13, 6), (13, 7),
    # PE 2 (rows 2, 6, 10, 14): W2,2 and W14,2 (paper).
    (2, 1), (2, 2), (14, 2), (14, 3), (10, 4), (6, 7),
    # PE 3 (rows 3, 7, 11, 15): three entries in column 2.
    (15, 0), (3, 2), (7, 2), (15, 2), (11, 5), (7, 6),
]  # fmt: skip
ACTIVE = [2, 4, 5, 7]


def fig2_layer(index_bits: int = 4) -> CompressedLayer:
    codes = np.zeros((16, 8), dtype=np.uint8)
    for i, (r, c) in enumerate(FIG2_POSITIONS):
        codes[r, c] = 1 + i % 15
    codebook = np.array([0.0, *np.linspace(-1.0, 1.0, 15) + 0.01], dtype=np.float32)
    return CompressedLayer("fig2", "linear", codebook, codes, codes != 0, None, 4, index_bits)


def fig2_input() -> np.ndarray:
    x = np.zeros(8, dtype=np.float32)
    x[ACTIVE] = [0.5, 0.25, 0.75, 1.0]
    return x


def config(**kwargs) -> SimConfig:
    return SimConfig(pes=4, output_registers_per_pe=0, **kwargs)


def test_pe0_layout_is_fig3():
    layout = EngineLayer.from_compressed(fig2_layer(), 4)
    lo, hi = layout.col_ptr[0, 0], layout.col_ptr[0, -1]
    assert (layout.col_ptr[0] - lo).tolist() == [0, 3, 4, 6, 6, 8, 10, 11, 13]
    assert layout.entry_gaps()[lo:hi].tolist() == [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0]


def test_entries_per_active_column():
    # Entries of columns 2, 4, 5, 7 per PE: PE0 2 2 2 2, PE1 0 4 0 1, PE2 2 1 0 1, PE3 3 0 1 0.
    result = simulate_layer(fig2_layer(), fig2_input(), config())
    assert result.pe_busy_cycles.tolist() == [8, 5, 4, 4]
    counts = result.counts
    assert counts.broadcasts == 4
    assert counts.entries == counts.multiplies == 21
    assert counts.filler_zeros == 0
    assert counts.pointer_reads_even == counts.pointer_reads_odd == 16  # 4 columns x 4 PEs
    # 64-bit words (8 entries) touched, per PE memory: PE0 columns 2, 4 in word 0 and 5, 7 in
    # word 1 (4 reads); PE1 column 4 = entries 3-6, column 7 = entry 8 (2); PE2 entries 1-2, 4, 5
    # (3: one per column); PE3 entries 1-3 and 4 (2).
    assert counts.sparse_matrix_reads == 11
    assert counts.activation_reads == 8 and counts.activation_writes == 16


def test_pipelined_fifo8():
    # b = 0, 1, 2, 3 (no queue ever holds 8). PE0: pops at the end of cycles 1, 2, 4, 6; pointers
    # in 2, 3, 5, 7; its sparse-matrix stage takes the columns at the end of 2, 4, 6, 8 and works
    # in cycles 3-4, 5-6, 7-8, 9-10. PE1: column 2 empty (pointers in 2), column 4 in 4-7, column
    # 5 empty (pointers in 4), column 7 waits for cycle 7 and runs in 8. PE2 ends in 7, PE3 in 6.
    # Last busy cycle 10 -> 11 cycles; busy 8 + 5 + 4 + 4 = 21 of 44 PE-cycles.
    result = simulate_layer(fig2_layer(), fig2_input(), config(fifo_depth=8))
    assert result.cycles == 11
    assert result.stall_cycles == 0
    assert result.starvation_cycles == 44 - 21
    assert result.load_efficiency == 21 / 44
    assert abs(result.latency_us - 11 / 800e6 * 1e6) < 1e-12


def test_pipelined_fifo1():
    # Depth 1: activation k waits until every PE popped k - 1, one cycle earlier.
    # b0 = 0; all PEs pop it at the end of 1 -> b1 = 2 (stall in cycle 1).
    # Column 4: pops at the end of 3 -> b2 = 4 (stall in 3). PE0 takes it into the matrix stage
    # at the end of 4 (its column 2 ends in 4) and works 5-6; PE1 works 5-8.
    # Column 5: pops at the end of 5 -> b3 = 6 (stall in 5). PE0 works 7-8.
    # Column 7: pops at the end of 7, pointers in 8; PE0 works 9-10, PE1 and PE2 work 9.
    # 11 cycles again (PE0 bounds both), 3 stall cycles.
    result = simulate_layer(fig2_layer(), fig2_input(), config(fifo_depth=1))
    assert result.cycles == 11
    assert result.stall_cycles == 3


def test_serial_pointer_read():
    # Serial: every column costs its PE 1 + n cycles. PE0: columns of 2 -> 3 cycles each, the
    # first pointer read in cycle 2 (broadcast 0, pop at the end of 1): cycles 2-13 -> 14 cycles.
    result = simulate_layer(fig2_layer(), fig2_input(), config(pointer_read="serial"))
    assert result.cycles == 14
    assert result.pe_busy_cycles.tolist() == [8, 5, 4, 4]


def test_fillers_with_one_bit_indices():
    # index_bits = 1: a gap of 2 or 3 local rows needs a filler zero. Active columns, per PE:
    # PE0: col 2 rows 0, 3 (+1 filler), col 4 rows 0, 1, col 5 rows 0, 3 (+1), col 7 rows 2, 3
    # (+1 from the top) -> 11 entries, 3 fillers. PE1: col 4 full, col 7 row 3 (+1) -> 6, 1.
    # PE2: col 2 rows 0, 3 (+1), col 4 row 2 (+1), col 7 row 1 -> 6, 2. PE3: col 2 rows 0, 1, 3,
    # col 5 row 2 (+1) -> 5, 1. Total 28 entries, 7 fillers, 21 multiplies as before.
    result = simulate_layer(fig2_layer(index_bits=1), fig2_input(), config())
    assert result.pe_busy_cycles.tolist() == [11, 6, 6, 5]
    assert result.counts.entries == result.counts.address_adds == 28
    assert result.counts.filler_zeros == 7
    assert result.counts.multiplies == result.counts.codebook_lookups == 21


def alternating_layer() -> CompressedLayer:
    """2 PEs, 4 columns: PE0 has 4 entries in columns 0 and 2, PE1 in columns 1 and 3."""
    codes = np.zeros((8, 4), dtype=np.uint8)
    codes[0::2, 0] = codes[0::2, 2] = 3  # rows 0, 2, 4, 6: PE0
    codes[1::2, 1] = codes[1::2, 3] = 5  # rows 1, 3, 5, 7: PE1
    codebook = np.linspace(0.0, 1.0, 16, dtype=np.float32)
    return CompressedLayer("alt", "linear", codebook, codes, codes != 0, None, 4, 4)


def test_alternating_load_deep_fifo():
    # b = 0..3. PE0: column 0 in 3-6; column 1 (empty) pointers in 3; column 2 popped at the end
    # of 3, pointers in 4, waits for cycle 6, works 7-10; column 3 pointers in 7. PE1: column 0
    # pointers in 2; column 1 works 4-7; column 2 pointers in 4; column 3 popped at the end of 4,
    # pointers in 5, works 8-11. 12 cycles, 16 of 24 PE-cycles busy.
    result = simulate_layer(alternating_layer(), np.ones(4), SimConfig(pes=2, fifo_depth=4))
    assert result.cycles == 12
    assert result.stall_cycles == 0
    assert result.load_efficiency == 16 / 24


def test_alternating_load_fifo1():
    # b0 = 0, b1 = 2, b2 = 4, b3 = 6 (each waits for the previous pop; stalls in 1, 3, 5).
    # PE0: column 0 in 3-6, column 2 popped at the end of 5, works 7-10. PE1: column 1 popped at
    # the end of 3, works 5-8; column 3 popped at the end of 7, pointers in 8, works 9-12.
    # 13 cycles: the shallow queue costs one cycle here.
    result = simulate_layer(alternating_layer(), np.ones(4), SimConfig(pes=2, fifo_depth=1))
    assert result.cycles == 13
    assert result.stall_cycles == 3
