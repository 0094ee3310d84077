"""The slow, literal EIE simulator: the same machine as ``_kernels.eie_pass``, one clock at a time.

Every cycle it looks at what the registers hold at the start of the cycle, decides what each unit
does during the cycle, and applies all updates at the clock edge that ends it:

- the central unit broadcasts the next non-zero activation into every queue unless some PE's queue
  is full (at the start of the cycle); otherwise it stalls;
- a PE's pointer stage reads the two pointers of the column it took in at the previous edge (one
  cycle, even and odd bank); an empty column is then dropped, any other waits until the
  sparse-matrix stage can take it, which happens at the edge that ends the stage's last entry of
  the previous column (or at once when the stage is idle);
- the sparse-matrix stage reads one stored entry per cycle, fetching a new SRAM word at the start
  of a column and whenever it crosses into the next word, and accumulates ``codebook[code] * a``
  (filler zeros, code 0, add nothing);
- a queue pops into the pointer stage at an edge where that stage is empty or lets its column go.
  In ``serial`` mode the two stages act as one: a PE takes the next column only when the previous
  one's last entry is done.

It exists to check the event-driven kernel (the tests require both to agree on every number) and
to read as the definition of the cycle model.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Column:
    """A column in a PE's sparse-matrix stage."""

    a: int  # the activation
    next_entry: int
    end: int
    row: int = -1  # local row of the last entry read
    word: int = -1  # SRAM word currently held


@dataclass
class _PE:
    queue: deque = field(default_factory=deque)
    pointer: tuple[int, bool] | None = None  # (column, pointers read yet)
    matrix: _Column | None = None


def eie_pass_reference(
    codes, gaps, code_mask, gap_shift, col_ptr, codebook, x, entries_per_word, fifo_depth,
    pipelined, local_rows,
):  # fmt: skip
    """Cycle-by-cycle version of ``_kernels.eie_pass`` (same arguments, plain Python).

    Returns ``(cycles, acc, busy, counts)``: the pass's cycles, int64 accumulators
    ``(pes, local_rows)``, each PE's cycles on entries, and ``[stall cycles, entries, filler
    zeros, SRAM reads]``.
    """
    pes = col_ptr.shape[0]
    active = [int(j) for j in np.flatnonzero(x)]
    acc = np.zeros((pes, local_rows), dtype=np.int64)
    busy = np.zeros(pes, dtype=np.int64)
    stalls = entries = fillers = sram_reads = 0
    units = [_PE() for _ in range(pes)]
    next_broadcast = 0
    cycle = 0
    last_active = -1

    def working() -> bool:
        return next_broadcast < len(active) or any(
            u.queue or u.pointer is not None or u.matrix is not None for u in units
        )

    while working():
        queue_full = any(len(u.queue) >= fifo_depth for u in units)
        edge = []  # per PE: (handoff, matrix stage free, pointer stage empties, pop)
        for p, u in enumerate(units):
            base = int(col_ptr[p, 0])
            # Sparse-matrix stage: one entry this cycle.
            matrix_free = u.matrix is None
            if u.matrix is not None:
                c = u.matrix
                e = c.next_entry
                if (e - base) // entries_per_word != c.word:
                    sram_reads += 1
                    c.word = (e - base) // entries_per_word
                c.row += (int(gaps[e]) >> gap_shift) + 1
                code = int(codes[e]) & code_mask
                if code == 0:
                    fillers += 1
                else:
                    acc[p, c.row] += int(codebook[code]) * c.a
                entries += 1
                busy[p] += 1
                last_active = cycle
                c.next_entry += 1
                matrix_free = c.next_entry == c.end
            # Pointer stage: the pointer read, then hand the column on (or drop it).
            handoff = None
            pointer_empties = u.pointer is None
            if u.pointer is not None:
                j, read = u.pointer
                if not read:
                    last_active = cycle
                    u.pointer = (j, True)
                start, end = int(col_ptr[p, j]), int(col_ptr[p, j + 1])
                if start == end:
                    pointer_empties = True
                elif matrix_free:
                    handoff = _Column(int(x[j]), start, end)
                    pointer_empties = True
            pop = pointer_empties and len(u.queue) > 0
            if not pipelined:  # one column at a time: the next waits for the last entry
                pop = pop and matrix_free and handoff is None
            edge.append((handoff, matrix_free, pointer_empties, pop))
        broadcast = next_broadcast < len(active) and not queue_full
        if next_broadcast < len(active) and queue_full:
            stalls += 1
        # The clock edge.
        for u, (handoff, matrix_free, pointer_empties, pop) in zip(units, edge):
            if matrix_free:
                u.matrix = handoff
            if pointer_empties:
                u.pointer = (u.queue.popleft(), False) if pop else None
            if broadcast:
                u.queue.append(active[next_broadcast])
        if broadcast:
            next_broadcast += 1
        cycle += 1
    counts = np.array([stalls, entries, fillers, sram_reads], dtype=np.int64)
    return last_active + 1, acc, busy, counts
