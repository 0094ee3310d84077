"""Numba kernel of the cycle-level EIE simulator: one pass of a layer, event by event.

The kernel walks the broadcast non-zero activations in order and, for each, every PE, carrying a
few cycle numbers per PE instead of stepping the clock. The cycle conventions (see
``docs/SIMULATOR.md``; ``reference.py`` steps the same machine cycle by cycle):

- activation ``k`` is broadcast during cycle ``b[k]`` (written into every PE's queue at the end of
  that cycle). The central unit broadcasts at most one per cycle and only while no queue is full;
  "full" is registered, seen at the start of the cycle, so a pop in the same cycle frees its slot
  one cycle later. With ``D`` = ``fifo_depth`` entries per queue, activation ``k`` finds room once
  activation ``k - D`` has left every queue:
  ``b[k] = max(b[k-1] + 1, max_p pop[p, k-D] + 1)``.
- PE ``p`` pops activation ``k`` at the end of cycle
  ``pop[p, k] = max(b[k] + 1, release[p])``, where ``release[p]`` is the cycle at whose end its
  pointer stage let go of the previous activation, and reads the column's two pointers (even and
  odd bank, one cycle) in cycle ``pop + 1``.
- ``pipelined``: an empty column leaves the pointer stage after that cycle. A column with ``n``
  entries moves to the sparse-matrix stage at the end of cycle
  ``handoff = max(pop + 1, last_entry[p])`` (the stage takes it in the cycle it finishes the
  previous column) and processes one entry per cycle, ``handoff + 1 .. handoff + n``; the pointer
  stage is free at the same edge, ``release = handoff``.
- ``serial``: one column at a time: pointers in ``pop + 1``, entries in ``pop + 2 .. pop + 1 + n``,
  ``release = pop + 1 + n``.
- the pass takes ``1 + max_p`` (last cycle in which PE ``p`` read pointers or an entry) cycles.

Counts come out of the same walk; the functional product accumulates ``codebook[code] * x[j]``
exactly in int64, per PE, as the PEs would. Filler zeros (code 0) take their cycle and move the row
but add nothing.
"""

from __future__ import annotations

import numpy as np
from numba import njit

STALLS = 0
ENTRIES = 1
FILLERS = 2
SPARSE_MATRIX_READS = 3
N_COUNTS = 4


@njit(cache=True)
def eie_pass(
    codes, gaps, code_mask, gap_shift, col_ptr, codebook, x, active, entries_per_word,
    fifo_depth, pipelined, acc, busy, counts,
):  # fmt: skip
    """Simulate one pass; returns its cycle count.

    Args:
        codes, gaps, code_mask, gap_shift: the entries of an ``EngineLayer`` (a packed layout
            passes its entries twice, as the engine's split kernels take them).
        col_ptr: int32/int64 ``(pes, cols + 1)``, absolute offsets; PE ``p``'s SRAM starts at
            ``col_ptr[p, 0]``.
        codebook: int16 ``(K,)`` fixed-point codebook, ``codebook[0] == 0``.
        x: int16 ``(cols,)`` activations; ``active``: int64 indices of its non-zeros, in order.
        entries_per_word: entries per sparse-matrix SRAM read.
        fifo_depth: activation queue entries; ``pipelined``: the pointer-read mode (bool).
        acc: int64 ``(pes, local_rows)`` accumulators, zeroed by the caller.
        busy: int64 ``(pes,)``: cycles each PE spends on entries (added to).
        counts: int64 ``(N_COUNTS,)``: stall cycles, entries, fillers, SRAM reads (added to).
    """
    pes = col_ptr.shape[0]
    n_active = active.shape[0]
    shift = np.uint32(gap_shift)
    cmask = np.uint32(code_mask)
    one = np.uint32(1)
    release = np.zeros(pes, dtype=np.int64)
    last_entry = np.full(pes, -1, dtype=np.int64)
    last_active = np.full(pes, -1, dtype=np.int64)
    latest_pop = np.empty(n_active, dtype=np.int64)  # max over PEs of pop[p, k]
    broadcast = np.int64(-1)
    for k in range(n_active):
        earliest = broadcast + 1
        if k >= fifo_depth:
            room = latest_pop[k - fifo_depth] + 1
            if room > earliest:
                counts[STALLS] += room - earliest
                earliest = room
        broadcast = earliest
        j = active[k]
        a = np.int64(x[j])
        latest = np.int64(0)
        for p in range(pes):
            pop = max(broadcast + 1, release[p])
            if pop > latest:
                latest = pop
            pointer_cycle = pop + 1
            start = np.int64(col_ptr[p, j])
            end = np.int64(col_ptr[p, j + 1])
            n = end - start
            if n == 0:
                release[p] = pointer_cycle
                finish = pointer_cycle
            elif pipelined:
                handoff = max(pointer_cycle, last_entry[p])
                release[p] = handoff
                finish = handoff + n
                last_entry[p] = finish
            else:
                finish = pointer_cycle + n
                release[p] = finish
                last_entry[p] = finish
            if finish > last_active[p]:
                last_active[p] = finish
            if n == 0:
                continue
            busy[p] += n
            counts[ENTRIES] += n
            base = np.int64(col_ptr[p, 0])
            counts[SPARSE_MATRIX_READS] += (
                (end - 1 - base) // entries_per_word - (start - base) // entries_per_word + 1
            )
            row = np.uint32(0)
            for e in range(start, end):
                row += np.uint32(gaps[e]) >> shift
                code = np.uint32(codes[e]) & cmask
                if code == 0:
                    counts[FILLERS] += 1
                else:
                    acc[p, row] += np.int64(codebook[code]) * a
                row += one
        latest_pop[k] = latest
    if n_active == 0:
        return np.int64(0)
    return last_active.max() + 1
