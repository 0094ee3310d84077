"""The simulated EIE accelerator's parameters (EIE §III-IV, §VI), with the paper's defaults.

``SimConfig`` round-trips to JSON with ``deepzip.config.to_json`` / ``from_json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deepzip.sim.energy import EnergyConfig

POINTER_READS = ("pipelined", "serial")


@dataclass(frozen=True)
class SimConfig:
    """One EIE configuration.

    Attributes:
        pes: processing elements; output row ``r`` and input ``r`` belong to PE ``r % pes``.
        fifo_depth: activation queue entries per PE (EIE: 8).
        clock_hz: clock frequency (EIE: 800 MHz).
        sram_width_bits: sparse-matrix SRAM word; one read fetches ``sram_width_bits //
            (weight_bits + index_bits)`` entries (EIE: 64 bits, eight 8-bit entries).
        output_registers_per_pe: destination activation registers per PE (EIE: 64, so 4K outputs
            over 64 PEs); a layer with more outputs runs in passes of ``pes *
            output_registers_per_pe`` rows, one after another. 0 means unlimited (one pass).
        pointer_read: ``"pipelined"`` (EIE): reading a column's pointers is its own pipeline
            stage, overlapped with the previous column's entries; ``"serial"``: a PE reads the
            pointers and then the entries of one column at a time, one extra cycle per column.
        energy: per-event energies (Table II calibration by default).
    """

    pes: int = 64
    fifo_depth: int = 8
    clock_hz: float = 800e6
    sram_width_bits: int = 64
    output_registers_per_pe: int = 64
    pointer_read: str = "pipelined"
    energy: EnergyConfig = field(default_factory=EnergyConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.pes, int) or self.pes < 1:
            raise ValueError(f"pes must be a positive integer, got {self.pes!r}")
        if not isinstance(self.fifo_depth, int) or self.fifo_depth < 1:
            raise ValueError(f"fifo_depth must be a positive integer, got {self.fifo_depth!r}")
        if not self.clock_hz > 0:
            raise ValueError(f"clock_hz must be positive, got {self.clock_hz!r}")
        if not isinstance(self.sram_width_bits, int) or self.sram_width_bits < 8:
            raise ValueError(f"sram_width_bits must be at least 8, got {self.sram_width_bits!r}")
        registers = self.output_registers_per_pe
        if not isinstance(registers, int) or registers < 0:
            raise ValueError(f"output_registers_per_pe must be >= 0, got {registers!r}")
        if self.pointer_read not in POINTER_READS:
            raise ValueError(
                f"pointer_read must be one of {POINTER_READS}, got {self.pointer_read!r}"
            )

    @property
    def rows_per_pass(self) -> int | None:
        """Output rows one pass can hold, or None when unlimited."""
        return self.pes * self.output_registers_per_pe or None
