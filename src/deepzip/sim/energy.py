"""Per-event energies of an EIE processing element, calibrated to EIE's Table II (Han et al. 2016).

Table II gives one PE's power at 800 MHz, 9.157 mW, broken down two ways: by kind (memory 5.416,
clock network 1.874, register 1.026, combinational 0.841 mW) and by unit (activation queue 0.112,
pointer read 1.807, sparse-matrix read 4.955, arithmetic 1.162, activation read/write 1.122 mW).
The simulator turns this into energy per event:

- the clock network, 1.874 mW, is charged on every cycle of every PE, busy or idle (the clock tree
  toggles either way): ``clock_per_pe_cycle`` = 1.874 mW / 800 MHz;
- the rest, 7.283 mW, is spread over the units in Table II's proportions (each unit's power times
  (9.157 - 1.874) / 9.157) and divided by the rate of that unit's event in a *fully busy PE*.

A fully busy PE, the calibration point, processes one stored entry every cycle in EIE's steady
state (EIE §V: with 8-bit entries in a 64-bit SRAM, the sparse-matrix SRAM and the pointer SRAM are
each accessed once every 64 / 8 = 8 cycles): per 8 cycles it pops one activation from its queue,
reads one pointer from each bank (even and odd), reads one 64-bit sparse-matrix word, and does 8
codebook lookups, multiplies, accumulating adds, relative-index address adds and accumulator
updates. At those rates the energies below give exactly 9.157 mW per PE (64 PEs: 0.586 W).

Only the arithmetic unit's total is calibrated; its split between the codebook lookup, the 16-bit
multiply, the accumulating add and the address add (65 / 15 / 15 / 5 %) is an assumption in the
proportions of Horowitz's 45 nm figures (ISSCC 2014) and matters only for the breakdown. Reads of
source activations (the leading non-zero detection scans every input once per pass) and writes of
outputs are charged one accumulator-update energy each; the steady state has almost none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_II_CLOCK_HZ = 800e6
TABLE_II_PE_MW = 9.157
TABLE_II_CLOCK_NETWORK_MW = 1.874
TABLE_II_UNIT_MW = {
    "activation_queue": 0.112,
    "pointer_read": 1.807,
    "sparse_matrix_read": 4.955,
    "arithmetic": 1.162,
    "activation_read_write": 1.122,
}
"""Table II's power per unit (mW per PE at 800 MHz); they sum to 9.158 (rounding)."""

STEADY_STATE_ENTRIES_PER_COLUMN = 8
"""The calibration point's entries per column and per 64-bit sparse-matrix word (EIE §V)."""

ARITHMETIC_SPLIT = {"codebook_lookup": 0.15, "multiply": 0.65, "add": 0.15, "address_add": 0.05}

_DYNAMIC = (TABLE_II_PE_MW - TABLE_II_CLOCK_NETWORK_MW) / sum(TABLE_II_UNIT_MW.values())


def _pj_per_cycle(unit: str) -> float:
    """A fully busy PE's dynamic energy per cycle in ``unit`` (pJ)."""
    return TABLE_II_UNIT_MW[unit] * _DYNAMIC * 1e-3 / TABLE_II_CLOCK_HZ * 1e12


_PER_COLUMN = STEADY_STATE_ENTRIES_PER_COLUMN  # cycles per column and per word at the calibration
_ARITHMETIC_PJ = _pj_per_cycle("arithmetic")


@dataclass(frozen=True)
class EnergyConfig:
    """Energy per event in picojoules (defaults: Table II calibration, see the module docstring).

    Attributes:
        clock_per_pe_cycle: every cycle of every PE (clock network).
        queue_push_pop: one activation through one PE's activation queue.
        pointer_bank_read: one read of the even or the odd pointer bank.
        sparse_matrix_read: one read of a sparse-matrix SRAM word (``sram_width_bits`` wide).
        codebook_lookup / multiply / add: one non-filler entry's decode, 16-bit multiply and
            accumulating add (filler zeros are gated: their code says they are zero).
        address_add: the relative-index accumulation of one stored entry, fillers included.
        accumulator_update: one read-modify-write of a destination activation register.
        activation_read: one source activation read by the leading non-zero detection.
        activation_write: one output activation written back.
    """

    clock_per_pe_cycle: float = TABLE_II_CLOCK_NETWORK_MW * 1e-3 / TABLE_II_CLOCK_HZ * 1e12
    queue_push_pop: float = _pj_per_cycle("activation_queue") * _PER_COLUMN
    pointer_bank_read: float = _pj_per_cycle("pointer_read") * _PER_COLUMN / 2
    sparse_matrix_read: float = _pj_per_cycle("sparse_matrix_read") * _PER_COLUMN
    codebook_lookup: float = _ARITHMETIC_PJ * ARITHMETIC_SPLIT["codebook_lookup"]
    multiply: float = _ARITHMETIC_PJ * ARITHMETIC_SPLIT["multiply"]
    add: float = _ARITHMETIC_PJ * ARITHMETIC_SPLIT["add"]
    address_add: float = _ARITHMETIC_PJ * ARITHMETIC_SPLIT["address_add"]
    accumulator_update: float = _pj_per_cycle("activation_read_write")
    activation_read: float = _pj_per_cycle("activation_read_write")
    activation_write: float = _pj_per_cycle("activation_read_write")

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not value >= 0.0:
                raise ValueError(f"energy {name} must be a non-negative number of pJ, got {value}")


def steady_state_power_mw(energy: EnergyConfig, clock_hz: float = TABLE_II_CLOCK_HZ) -> float:
    """Power of one fully busy PE in EIE's steady state (the calibration point), in mW."""
    per_column = (
        energy.queue_push_pop
        + 2 * energy.pointer_bank_read
        + energy.sparse_matrix_read  # one 64-bit word per 8 entries
        + _PER_COLUMN
        * (
            energy.codebook_lookup
            + energy.multiply
            + energy.add
            + energy.address_add
            + energy.accumulator_update
        )
    )
    per_cycle_pj = energy.clock_per_pe_cycle + per_column / _PER_COLUMN
    return per_cycle_pj * 1e-12 * clock_hz * 1e3
