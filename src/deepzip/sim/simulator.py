"""Cycle-level simulation of one compressed layer on EIE (Han et al. 2016, §III-IV).

``simulate_layer(layer, activations, config)`` lays the layer out as EIE stores it, using the
engine's per-PE interleaved CSC (``deepzip.engine.EngineLayer``: row ``r`` on PE ``r % pes``,
4-bit codes and 4-bit relative row indices with each PE's own filler zeros), quantizes the
activations to the engine's 16-bit fixed point, and runs the event-driven kernel
(``_kernels.eie_pass``): the central unit broadcasts each non-zero activation to every PE's
activation queue, each PE reads the column's pointers and processes its stored entries one per
cycle. It returns a ``SimResult``: cycles, latency, load efficiency, stalls, every SRAM access and
arithmetic operation, GOP/s, energy, and the functional output, which equals the engine's
``sparse_matvec_fixed16`` exactly.

A layer with more outputs than the PEs' destination registers hold (``pes *
output_registers_per_pe``, 4096 on EIE) runs in several passes over the input, one after another;
each pass lays out its own rows (its own filler zeros) and rescans the input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from deepzip.compressed import CompressedLayer
from deepzip.engine import EngineLayer
from deepzip.engine import fixed_point as fx
from deepzip.sim import _kernels
from deepzip.sim.config import SimConfig


@dataclass(frozen=True, eq=False)
class PreparedLayer:
    """A layer laid out for a number of PEs, reusable across FIFO depths, clocks, SRAM widths
    and energies.

    Attributes:
        name: the layer's name; ``kind``: ``"linear"`` or ``"conv2d"``.
        shape: ``(rows, cols)``; a conv weight is ``(out, in * kh * kw)``.
        pes: processing elements.
        rows_per_pass: output rows per pass (None: one pass).
        passes: one ``EngineLayer`` per pass (rows ``start .. start + rows``).
        pass_starts: first output row of each pass.
        codebook16: the int16 fixed-point codebook (``fixed_point.quantize_weights``).
        weight_fraction_bits: its fractional bits.
        bias: float64 ``(rows,)`` or None.
        entry_bits: bits per stored entry (``weight_bits + index_bits``).
        stored_entries, stored_fillers: the layout's entries (all columns, all passes) and the
            filler zeros among them.
    """

    name: str
    kind: str
    shape: tuple[int, int]
    pes: int
    rows_per_pass: int | None
    passes: tuple[EngineLayer, ...]
    pass_starts: tuple[int, ...]
    codebook16: np.ndarray
    weight_fraction_bits: int
    bias: np.ndarray | None
    entry_bits: int
    stored_entries: int
    stored_fillers: int

    def entries_per_word(self, config: SimConfig) -> int:
        """Stored entries one sparse-matrix SRAM read fetches."""
        return max(1, config.sram_width_bits // self.entry_bits)


def prepare_layer(layer: CompressedLayer, config: SimConfig) -> PreparedLayer:
    """Lay ``layer`` out for ``config.pes`` PEs (the part of a simulation that costs the most)."""
    rows = layer.codes.shape[0]
    cols = layer.num_weights // rows if rows else 0
    per_pass = config.rows_per_pass
    starts = list(range(0, rows, per_pass)) if per_pass and rows > per_pass else [0]
    passes = tuple(
        EngineLayer.from_compressed(
            layer, config.pes, None if len(starts) == 1 else slice(s, min(s + per_pass, rows))
        )
        for s in starts
    )
    codebook16, weight_frac = fx.quantize_weights(layer.codebook)
    bias = None if layer.bias is None else layer.bias.astype(np.float64)
    fillers = sum(
        int(np.count_nonzero(p.entries == 0 if not p.packed else p.entries % 2**p.weight_bits == 0))
        for p in passes
    )  # code 0: a filler zero (split layouts keep the codes alone)
    return PreparedLayer(
        name=layer.name,
        kind=layer.kind,
        shape=(rows, cols),
        pes=config.pes,
        rows_per_pass=per_pass,
        passes=passes,
        pass_starts=tuple(starts),
        codebook16=np.ascontiguousarray(codebook16),
        weight_fraction_bits=int(weight_frac),
        bias=bias,
        entry_bits=layer.weight_bits + layer.index_bits,
        stored_entries=sum(part.n_entries for part in passes),
        stored_fillers=fillers,
    )


@dataclass(frozen=True)
class EventCounts:
    """Every counted event of one simulation (over all PEs and passes).

    ``broadcasts`` are non-zero activations sent by the central unit (once per pass); every PE
    pushes and pops each one (``queue_pushes``) and reads one pointer from each bank for it.
    ``entries`` are stored entries processed, filler zeros included; a filler takes its cycle, its
    place in an SRAM word and an ``address_add`` but no lookup, multiply or accumulation.
    ``activation_reads``: inputs scanned by the leading non-zero detection (every input, once per
    pass); ``activation_writes``: outputs written back.
    """

    broadcasts: int
    queue_pushes: int
    pointer_reads_even: int
    pointer_reads_odd: int
    sparse_matrix_reads: int
    entries: int
    filler_zeros: int
    codebook_lookups: int
    multiplies: int
    adds: int
    address_adds: int
    accumulator_updates: int
    activation_reads: int
    activation_writes: int


@dataclass(frozen=True, eq=False)
class SimResult:
    """The outcome of simulating one layer on one input vector.

    Attributes:
        name, shape: the layer's; ``kind`` ``"linear"`` or ``"conv2d"`` (a conv layer is one
            matrix-vector product over its flattened weight, one output position).
        config: the simulated configuration.
        passes: passes over the input (more than one when the outputs exceed the registers).
        nonzero_activations: non-zero inputs after 16-bit quantization (one pass's broadcasts).
        cycles: total cycles, passes one after another.
        pe_busy_cycles: int64 ``(pes,)``: cycles each PE's sparse-matrix stage processed an entry.
        stall_cycles: cycles the central unit held a non-zero but some activation queue was full.
        counts: the ``EventCounts``.
        stored_entries, stored_fillers: the layout's size (all columns, all passes).
        energy_pj: energy by Table II unit (plus ``clock``), picojoules.
        output_fixed: int64 ``(rows,)``: the accumulators (bias added, ReLU if asked), in the
            format with ``output_fraction_bits`` fractional bits; equals the engine's
            ``sparse_matvec_fixed16``.
        output: float32 ``(rows,)``: ``output_fixed * 2**-output_fraction_bits``.
    """

    name: str
    kind: str
    shape: tuple[int, int]
    config: SimConfig
    passes: int
    nonzero_activations: int
    cycles: int
    pe_busy_cycles: np.ndarray
    stall_cycles: int
    counts: EventCounts
    stored_entries: int
    stored_fillers: int
    energy_pj: dict[str, float]
    output_fixed: np.ndarray
    output_fraction_bits: int
    output: np.ndarray

    @property
    def latency_us(self) -> float:
        return self.cycles / self.config.clock_hz * 1e6

    @property
    def busy_cycles(self) -> int:
        """PE-cycles spent on stored entries, summed over PEs."""
        return int(self.pe_busy_cycles.sum())

    @property
    def starvation_cycles(self) -> int:
        """PE-cycles in which a PE's sparse-matrix stage had no entry to process (bubbles)."""
        return self.config.pes * self.cycles - self.busy_cycles

    @property
    def load_efficiency(self) -> float:
        """1 - starvation bubbles / total PE-cycles (EIE §VI's load-balance efficiency, averaged
        over PEs); 1.0 for a layer with nothing to do."""
        total = self.config.pes * self.cycles
        return self.busy_cycles / total if total else 1.0

    @property
    def workload_us(self) -> float:
        """Workload-only time: entries processed (fillers included) / (pes x clock)."""
        return self.counts.entries / (self.config.pes * self.config.clock_hz) * 1e6

    @property
    def workload_max_us(self) -> float:
        """Workload of the busiest PE alone: its entries / clock."""
        busiest = int(self.pe_busy_cycles.max()) if self.pe_busy_cycles.size else 0
        return busiest / self.config.clock_hz * 1e6

    @property
    def gops(self) -> float:
        """GOP/s on the compressed layer: 2 operations (multiply, add) per non-zero weight times
        non-zero activation, as EIE counts its 102 GOP/s."""
        seconds = self.cycles / self.config.clock_hz
        return 2 * self.counts.multiplies / seconds / 1e9 if seconds else 0.0

    @property
    def gops_dense_equivalent(self) -> float:
        """GOP/s of the dense layer it replaces: 2 x rows x cols per latency (EIE's 3 TOP/s)."""
        seconds = self.cycles / self.config.clock_hz
        return 2 * self.shape[0] * self.shape[1] / seconds / 1e9 if seconds else 0.0

    @property
    def energy_uj(self) -> float:
        return sum(self.energy_pj.values()) * 1e-6

    @property
    def average_power_w(self) -> float:
        seconds = self.cycles / self.config.clock_hz
        return self.energy_uj * 1e-6 / seconds if seconds else 0.0

    def to_dict(self, include_output: bool = False) -> dict:
        """A JSON-ready dict: the scalars, ``counts`` and ``energy_pj`` (and the output)."""
        out = {
            "name": self.name,
            "kind": self.kind,
            "shape": list(self.shape),
            "pes": self.config.pes,
            "fifo_depth": self.config.fifo_depth,
            "clock_hz": self.config.clock_hz,
            "pointer_read": self.config.pointer_read,
            "passes": self.passes,
            "nonzero_activations": self.nonzero_activations,
            "cycles": self.cycles,
            "latency_us": self.latency_us,
            "load_efficiency": self.load_efficiency,
            "busy_cycles": self.busy_cycles,
            "starvation_cycles": self.starvation_cycles,
            "stall_cycles": self.stall_cycles,
            "workload_us": self.workload_us,
            "workload_max_us": self.workload_max_us,
            "gops": self.gops,
            "gops_dense_equivalent": self.gops_dense_equivalent,
            "energy_uj": self.energy_uj,
            "average_power_w": self.average_power_w,
            "stored_entries": self.stored_entries,
            "stored_fillers": self.stored_fillers,
            "counts": asdict(self.counts),
            "energy_pj": dict(self.energy_pj),
        }
        if include_output:
            out["output_fraction_bits"] = self.output_fraction_bits
            out["output_fixed"] = self.output_fixed.tolist()
            out["output"] = self.output.tolist()
        return out


def quantize_input(activations: np.ndarray, cols: int) -> tuple[np.ndarray, int]:
    """``(int16 (cols,), fractional bits)``: the engine's 16-bit format for one input vector."""
    x = np.asarray(activations)
    if x.shape != (cols,):
        raise ValueError(f"activations must have shape ({cols},), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"activations must be numbers, got {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError("activations must be finite")
    q, frac = fx.quantize_activations(x.astype(np.float64)[:, None])
    return np.ascontiguousarray(q[:, 0]), int(frac[0])


def _energy(counts: EventCounts, cycles: int, config: SimConfig) -> dict[str, float]:
    e = config.energy
    return {
        "clock": config.pes * cycles * e.clock_per_pe_cycle,
        "activation_queue": counts.queue_pushes * e.queue_push_pop,
        "pointer_read": (counts.pointer_reads_even + counts.pointer_reads_odd)
        * e.pointer_bank_read,
        "sparse_matrix_read": counts.sparse_matrix_reads * e.sparse_matrix_read,
        "arithmetic": counts.codebook_lookups * e.codebook_lookup
        + counts.multiplies * e.multiply
        + counts.adds * e.add
        + counts.address_adds * e.address_add,
        "activation_read_write": counts.accumulator_updates * e.accumulator_update
        + counts.activation_reads * e.activation_read
        + counts.activation_writes * e.activation_write,
    }


def simulate_layer(
    layer: CompressedLayer | PreparedLayer,
    activations: np.ndarray,
    config: SimConfig | None = None,
    relu: bool = False,
) -> SimResult:
    """Simulate ``y = act(W x + bias)`` for one input vector on EIE.

    Args:
        layer: a compressed linear or conv2d layer, or one ``prepare_layer`` made for
            ``config`` (to reuse the layout across runs).
        activations: ``(cols,)`` numbers (``cols`` = inputs; ``in * kh * kw`` for a conv layer),
            quantized to the engine's 16-bit format first.
        config: the accelerator (default ``SimConfig()``: EIE's 64 PEs, FIFO 8, 800 MHz).
        relu: apply ReLU to the outputs (EIE does it when writing them back).
    """
    config = SimConfig() if config is None else config
    if isinstance(layer, PreparedLayer):
        prepared = layer
        if prepared.pes != config.pes or prepared.rows_per_pass != config.rows_per_pass:
            raise ValueError(
                f"layer {prepared.name!r} was prepared for {prepared.pes} PEs and "
                f"{prepared.rows_per_pass} rows per pass, not {config.pes} and "
                f"{config.rows_per_pass}"
            )
    else:
        prepared = prepare_layer(layer, config)
    rows, cols = prepared.shape
    x, activation_frac = quantize_input(activations, cols)
    active = np.flatnonzero(x).astype(np.int64)
    pes = config.pes
    acc_rows = np.zeros(rows, dtype=np.int64)
    busy = np.zeros(pes, dtype=np.int64)
    raw = np.zeros(_kernels.N_COUNTS, dtype=np.int64)
    cycles = 0
    per_word = prepared.entries_per_word(config)
    for part, start in zip(prepared.passes, prepared.pass_starts):
        acc = np.zeros((pes, part.local_rows), dtype=np.int64)
        gaps = part.entries if part.gaps is None else part.gaps
        cycles += int(
            _kernels.eie_pass(
                part.entries, gaps, part.code_mask, part.gap_shift, part.col_ptr,
                prepared.codebook16, x, active, per_word, config.fifo_depth,
                config.pointer_read == "pipelined", acc, busy, raw,
            )
        )  # fmt: skip
        # Local row l of PE p is pass row l * pes + p: the transpose lists them in row order.
        acc_rows[start : start + part.shape[0]] = acc.T.reshape(-1)[: part.shape[0]]
    output_frac = prepared.weight_fraction_bits + activation_frac
    if prepared.bias is not None:
        acc_rows += np.floor(prepared.bias * 2.0**output_frac + 0.5).astype(np.int64)
    if relu:
        np.maximum(acc_rows, 0, out=acc_rows)
    n_passes = len(prepared.passes)
    broadcasts = n_passes * int(active.size)
    entries, fillers = int(raw[_kernels.ENTRIES]), int(raw[_kernels.FILLERS])
    useful = entries - fillers
    counts = EventCounts(
        broadcasts=broadcasts,
        queue_pushes=broadcasts * pes,
        pointer_reads_even=broadcasts * pes,
        pointer_reads_odd=broadcasts * pes,
        sparse_matrix_reads=int(raw[_kernels.SPARSE_MATRIX_READS]),
        entries=entries,
        filler_zeros=fillers,
        codebook_lookups=useful,
        multiplies=useful,
        adds=useful,
        address_adds=entries,
        accumulator_updates=useful,
        activation_reads=n_passes * cols,
        activation_writes=rows,
    )
    return SimResult(
        name=prepared.name,
        kind=prepared.kind,
        shape=prepared.shape,
        config=config,
        passes=n_passes,
        nonzero_activations=int(active.size),
        cycles=cycles,
        pe_busy_cycles=busy,
        stall_cycles=int(raw[_kernels.STALLS]),
        counts=counts,
        stored_entries=prepared.stored_entries,
        stored_fillers=prepared.stored_fillers,
        energy_pj=_energy(counts, cycles, config),
        output_fixed=acc_rows,
        output_fraction_bits=output_frac,
        output=fx.dequantize(acc_rows, np.int64(output_frac)).astype(np.float32),
    )
