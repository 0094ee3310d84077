"""Benchmark: deepzip's EIE-style engine against dense and sparse baselines on EIE's Table III.

The nine layers of EIE's Table III (Han et al. 2016) with synthetic weights of the paper's shapes,
weight density and activation density, at random positions: a 4-bit codebook (code 0 the exact
zero, 15 shared weights) and 4-bit relative indices, so the engine stores one byte per entry
(filler zeros included). Each layer is ``(out, in)``; the input vectors have the paper's
activation density, non-zeros uniform in (0, 1).

Every method runs at the same thread count, ``--threads`` (2 = the machine's cores), except scipy,
whose sparse products are single-threaded by construction; so the compiled CSC baseline is given
at both 1 and ``--threads`` threads, and so is the engine. Methods (``THREADS`` gives each one's
threads, and the JSON records them):

- batch 1: the engine (``sparse_matvec``); a compiled CSC kernel (``_baselines.BlockedCSC``:
  float32 values, int32 row indices, a ``prange`` over row blocks, only the columns of non-zero
  activations walked, the engine's loop structure); numpy dense ``W @ x`` (OpenBLAS, its threads
  limited with threadpoolctl); torch dense ``mv``; scipy CSR ``W @ x``; scipy CSC restricted to the
  non-zero activations, ``W_csc[:, nz] @ x[nz]``, with the slice built *before* the timed call
  for every input of the pool (so only the product is timed: a lower bound for scipy, which in use
  would pay the copy; an oracle, since the slice depends on the input); torch sparse CSR ``mv``;
- batch 64: the engine (``sparse_matmul``), the compiled CSC kernel batched, numpy and torch dense
  ``W @ X``, torch sparse CSR ``torch.sparse.mm`` (sparse x dense).

The format and the kernel are reported apart: compiled CSC / engine at the same threads is what
the engine's format (1-byte entries decoded through a codebook) gives over 8-byte non-zeros at
equal kernel quality; scipy CSR / compiled CSC on one thread is what the compiled kernel gives
over scipy's at equal format (float32 values, int32 indices) and threads. The pre-sliced scipy
oracle against the compiled CSC kernel shows what gathering the active columns into contiguous
memory (untimed) is worth.

Timing: median (and fastest call, reported too: on shared cores the median of a 2-thread method can
be a scheduler's time slice) after warm-up, methods interleaved round by round in one run (a short
pause and one untimed call before each method's block, so that the other library's idle OpenMP
threads stop spinning), each call on the next of a pool of different inputs. Layers are timed alone
(over and over: they sit in cache) and as the three networks' stacks, every layer of the stack in
turn, as an inference runs them: AlexNet fc6-fc7-fc8, VGG-16 fc6-fc7-fc8, NeuralTalk We, Wd, LSTM.

Bytes read per inference are counted from the formats, not measured. Memory: resident bytes of
the engine's layout per stored non-zero (the issue's bound is 1.25; filler zeros and pointers
count against it).

Targets (issue 12), geometric mean over the three stacks: batch 1 >= 10x faster than the faster
dense baseline and >= 3x faster than the fastest sparse baseline (including the compiled CSC
kernel at the engine's threads), NeuralTalk >= 1.5x on its own; batch 64 >= 5x faster per input
than torch dense and >= 2x faster than the best sparse x dense baseline; memory <= 1.25 bytes per
stored non-zero on every layer. The batch-1 sparse target is judged against every sparse
baseline, the pre-sliced scipy oracle included, and also reported against the ``REALIZABLE`` ones.

    python benchmarks/engine_bench.py [--json PATH] [--quick] [--seed N] [--threads N]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numba
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from _baselines import BlockedCSC, csc_matmul, csc_matvec  # benchmarks/, the script's folder
from deepzip.compressed import CompressedLayer
from deepzip.engine import EngineLayer, sparse_matmul, sparse_matvec

try:
    import scipy
    import scipy.sparse as sp
except ImportError:  # the table says so
    scipy = None

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "engine.json"
WEIGHT_BITS = 4
INDEX_BITS = 4
BATCH = 64
POOL = 8  # different inputs per layer, used in turn
SETTLE_S = 0.005  # pause before each method's block of calls
BUSY_LOAD = 1.5  # 1-minute load average before the run above which the report warns
MEMORY_TARGET = 1.25  # resident bytes per stored non-zero


@dataclass(frozen=True)
class LayerSpec:
    name: str
    inputs: int
    outputs: int
    weight_density: float
    activation_density: float


LAYERS = [
    LayerSpec("Alex-6", 9216, 4096, 0.09, 0.351),
    LayerSpec("Alex-7", 4096, 4096, 0.09, 0.353),
    LayerSpec("Alex-8", 4096, 1000, 0.25, 0.375),
    LayerSpec("VGG-6", 25088, 4096, 0.04, 0.183),
    LayerSpec("VGG-7", 4096, 4096, 0.04, 0.375),
    LayerSpec("VGG-8", 4096, 1000, 0.23, 0.411),
    LayerSpec("NT-We", 4096, 600, 0.10, 1.0),
    LayerSpec("NT-Wd", 600, 8791, 0.11, 1.0),
    LayerSpec("NT-LSTM", 1201, 2400, 0.10, 1.0),
]
STACKS = {
    "AlexNet": ["Alex-6", "Alex-7", "Alex-8"],
    "VGG-16": ["VGG-6", "VGG-7", "VGG-8"],
    "NeuralTalk": ["NT-We", "NT-Wd", "NT-LSTM"],
}
DENSE = ("numpy dense", "torch dense")
SPARSE = ("CSC kernel", "scipy CSR", "scipy CSC active", "torch CSR")  # batch 1
# Without the pre-sliced scipy product, whose slice depends on the input and is not timed: what a
# caller who does not know the input in advance can run.
REALIZABLE = ("CSC kernel", "scipy CSR", "torch CSR")
FORMAT_VS_KERNEL = (
    "format_gain",
    "format_gain_1_thread",
    "kernel_gain_1_thread",
    "oracle_vs_kernel_1_thread",
)
SPARSE64 = ("CSC kernel", "torch CSR")  # sparse x dense at batch 64


def thread_counts(threads: int) -> dict[str, int]:
    """Threads each method runs on."""
    return {
        "engine": threads,
        "engine 1 thread": 1,
        "CSC kernel": threads,
        "CSC kernel 1 thread": 1,
        "numpy dense": threads,
        "torch dense": threads,
        "scipy CSR": 1,
        "scipy CSC active": 1,
        "torch CSR": threads,
    }


@dataclass
class Prepared:
    """One layer in every method's format, and its inputs."""

    spec: LayerSpec
    engine: EngineLayer
    blocked: BlockedCSC
    dense: np.ndarray  # float32 (out, in)
    dense_torch: torch.Tensor
    csr: object | None
    sliced: list | None  # per pool input: (csc[:, nz], x[nz]), built outside the timing
    torch_csr: torch.Tensor
    nnz: int
    vectors: list[np.ndarray]  # (in,) float32
    vectors_torch: list[torch.Tensor]
    batches: list[np.ndarray]  # (in, BATCH) float32
    batches_torch: list[torch.Tensor]


def random_layer(spec: LayerSpec, rng: np.random.Generator) -> tuple[CompressedLayer, np.ndarray]:
    """A compressed layer of ``spec``'s shape and weight density at random positions, and its
    dense float32 weight."""
    shape = (spec.outputs, spec.inputs)
    mask = rng.random(shape, dtype=np.float32) < spec.weight_density
    codes = np.zeros(shape, dtype=np.uint8)
    codes[mask] = rng.integers(1, 2**WEIGHT_BITS, int(mask.sum()), dtype=np.uint8)
    shared = np.sort(rng.normal(0.0, 0.05, 2**WEIGHT_BITS - 1))
    codebook = np.concatenate([[0.0], shared]).astype(np.float32)
    layer = CompressedLayer(
        spec.name, "linear", codebook, codes, mask, None, WEIGHT_BITS, INDEX_BITS
    )
    return layer, codebook[codes]


def random_inputs(
    rng: np.random.Generator, n: int, density: float, count: int, batch: int | None = None
) -> list[np.ndarray]:
    """``count`` float32 inputs ``(n,)`` or ``(n, batch)``, ``density`` non-zeros in (0, 1)."""
    shape = (n,) if batch is None else (n, batch)
    out = []
    for _ in range(count):
        active = rng.random(shape) < density
        out.append(np.where(active, rng.random(shape), 0.0).astype(np.float32))
    return out


def make_layer(
    spec: LayerSpec, rng: np.random.Generator, threads: int, with_scipy: bool = True
) -> Prepared:
    layer, dense = random_layer(spec, rng)
    engine = EngineLayer.from_compressed(layer, threads)
    del layer
    blocked = BlockedCSC.from_dense(dense, threads)
    vectors = random_inputs(rng, spec.inputs, spec.activation_density, POOL)
    batches = random_inputs(rng, spec.inputs, spec.activation_density, 2, BATCH)
    csr = sliced = None
    if scipy is not None and with_scipy:
        csr = sp.csr_matrix(dense)
        csc = csr.tocsc()
        sliced = []
        for x in vectors:
            nz = np.flatnonzero(x)
            sliced.append((csc[:, nz], x[nz]))
    dense_torch = torch.from_numpy(dense)
    return Prepared(
        spec,
        engine,
        blocked,
        dense,
        dense_torch,
        csr,
        sliced,
        dense_torch.to_sparse_csr(),
        blocked.nnz,
        vectors,
        [torch.from_numpy(v) for v in vectors],
        batches,
        [torch.from_numpy(b) for b in batches],
    )


# ---------------------------------------------------------------------------------------------
# Methods: f(prepared, i) runs input i of the pool
# ---------------------------------------------------------------------------------------------


def _scipy_csc_active(p: Prepared, i: int) -> np.ndarray:
    matrix, x = p.sliced[i]
    return matrix @ x


BATCH1: dict[str, Callable[[Prepared, int], object]] = {
    "engine": lambda p, i: sparse_matvec(p.engine, p.vectors[i]),
    "engine 1 thread": lambda p, i: sparse_matvec(p.engine, p.vectors[i], threads=1),
    "CSC kernel": lambda p, i: csc_matvec(p.blocked, p.vectors[i]),
    "CSC kernel 1 thread": lambda p, i: csc_matvec(p.blocked, p.vectors[i], threads=1),
    "numpy dense": lambda p, i: p.dense @ p.vectors[i],
    "torch dense": lambda p, i: torch.mv(p.dense_torch, p.vectors_torch[i]),
    "scipy CSR": lambda p, i: p.csr @ p.vectors[i],
    "scipy CSC active": _scipy_csc_active,
    "torch CSR": lambda p, i: torch.mv(p.torch_csr, p.vectors_torch[i]),
}
BATCH64: dict[str, Callable[[Prepared, int], object]] = {
    "engine": lambda p, i: sparse_matmul(p.engine, p.batches[i % 2]),
    "CSC kernel": lambda p, i: csc_matmul(p.blocked, p.batches[i % 2]),
    "numpy dense": lambda p, i: p.dense @ p.batches[i % 2],
    "torch dense": lambda p, i: torch.mm(p.dense_torch, p.batches_torch[i % 2]),
    "torch CSR": lambda p, i: torch.sparse.mm(p.torch_csr, p.batches_torch[i % 2]),
}


def methods_available(p: Prepared, methods: dict) -> dict:
    return {k: f for k, f in methods.items() if not (k.startswith("scipy") and p.csr is None)}


def check_outputs(p: Prepared, batch1: dict, batch64: dict) -> None:
    """Every method computes the same product (a benchmark of wrong answers is worthless)."""
    for x, methods, index in ((p.vectors[0], batch1, 0), (p.batches[0], batch64, 0)):
        want = p.dense.astype(np.float64) @ x.astype(np.float64)
        scale = max(float(np.abs(want).max()), 1e-30)
        for name, f in methods.items():
            got = np.asarray(f(p, index), dtype=np.float64)
            assert np.abs(got - want).max() <= 1e-4 * scale, (p.spec.name, name)


def time_interleaved(
    calls: dict[str, Callable[[int], object]], rounds: int, budget_s: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Median and fastest seconds per call of each method; methods alternate round by round."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for f in calls.values():  # warm-up (compilation, caches, thread pools)
        for i in range(3):
            f(i % POOL)
    per_round = budget_s / rounds
    for r in range(rounds):
        for name, f in calls.items():
            # numba and torch each have their own OpenMP runtime, whose idle threads spin for a
            # while after a parallel call and would take the cores from the next method.
            time.sleep(SETTLE_S)
            f(r % POOL)
            start = time.perf_counter()
            n = 0
            while True:
                t0 = time.perf_counter()
                f((r + n) % POOL)
                samples[name].append(time.perf_counter() - t0)
                n += 1
                if time.perf_counter() - start > per_round / len(calls) or n >= 200:
                    break
    medians = {name: statistics.median(s) for name, s in samples.items()}
    return medians, {name: min(s) for name, s in samples.items()}


# ---------------------------------------------------------------------------------------------
# Bytes read per inference (from the formats)
# ---------------------------------------------------------------------------------------------


def engine_bytes(p: Prepared, xs: list[np.ndarray]) -> float:
    """Entries and pointers of the active columns, the input scan, the output, the codebook."""
    layer = p.engine
    per_column = (layer.col_ptr[:, 1:] - layer.col_ptr[:, :-1]).sum(axis=0)
    total = []
    for x in xs:
        active = np.flatnonzero(x.reshape(x.shape[0], -1).any(axis=1))
        entries = int(per_column[active].sum()) * layer.entries.itemsize
        pointers = active.size * layer.pes * 2 * layer.col_ptr.itemsize
        total.append(entries + pointers + x.nbytes + 4 * layer.shape[0] * (x.size // x.shape[0]))
    return statistics.mean(total) + layer.codebook.nbytes


def baseline_bytes(p: Prepared, method: str, batch: int) -> float:
    n_in, n_out = p.spec.inputs, p.spec.outputs
    io = 4 * (n_in + n_out) * batch
    density = p.spec.activation_density
    if method in DENSE:
        return 4 * n_in * n_out + io
    if method == "scipy CSR":
        return 8 * p.nnz + 4 * (n_out + 1) + io
    if method == "torch CSR":
        return 12 * p.nnz + 8 * (n_out + 1) + io
    if method == "scipy CSC active":
        return 8 * p.nnz * density + 8 * n_in * density + io
    if method.startswith("CSC kernel"):
        return 8 * p.nnz * density + 16 * p.blocked.blocks * n_in * density + io
    raise KeyError(method)


# ---------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------


def machine_info(threads: int) -> dict:
    """CPU model, caches, thread settings, BLAS, load average and versions (for every JSON)."""
    cpu: dict[str, str] = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "L1d cache", "L2 cache", "L3 cache"):
                cpu[key.strip()] = value.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "threads": threads,
        "numba_threads": numba.get_num_threads(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "versions": {
            "numpy": np.__version__,
            "numba": numba.__version__,
            "torch": torch.__version__,
            "scipy": None if scipy is None else scipy.__version__,
        },
    }


def write_json(
    path: Path,
    benchmark: str,
    threads: int,
    info: dict,
    methods: tuple[str, ...] = ("engine", "torch dense"),
    **figures,
) -> None:
    """A benchmark's JSON: its name, date, command, the threads every method had (``methods``, all
    at ``threads``), the machine (``machine_info``, taken while the threads were set), then its
    figures; ``wrote PATH``."""
    result = {
        "benchmark": benchmark,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "threads": {method: threads for method in methods},
        "machine": info,
        **figures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


def set_threads(threads: int):
    """Set numba's and torch's threads; return the BLAS limit (a context manager) for numpy."""
    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    return threadpool_limits(limits=threads, user_api="blas")


def geomean(values: list[float]) -> float:
    return math.exp(statistics.mean(math.log(v) for v in values))


def _fastest(times: dict[str, float], names: tuple[str, ...]) -> tuple[str, float]:
    name = min((n for n in names if n in times), key=times.__getitem__)
    return name, times[name]


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def _us(times: dict[str, float], per: int = 1) -> dict[str, float]:
    return {k: v * 1e6 / per for k, v in times.items()}


def run(args: argparse.Namespace) -> dict:
    threads = args.threads
    rounds, budget_alone, budget_stack = (2, 0.4, 1.0) if args.quick else (10, 3.0, 10.0)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    machine = machine_info(threads)

    prepared: dict[str, Prepared] = {}
    for spec in LAYERS:
        p = make_layer(spec, rng, threads)
        check_outputs(p, methods_available(p, BATCH1), BATCH64)
        prepared[spec.name] = p
        gc.collect()
    batch1 = methods_available(next(iter(prepared.values())), BATCH1)

    # -- layers alone ---------------------------------------------------------------------------
    layer_rows = []
    for spec in LAYERS:
        p = prepared[spec.name]
        t1, min1 = time_interleaved(
            {k: (lambda i, f=f, p=p: f(p, i)) for k, f in batch1.items()}, rounds, budget_alone
        )
        t64, min64 = time_interleaved(
            {k: (lambda i, f=f, p=p: f(p, i)) for k, f in BATCH64.items()}, rounds, budget_alone
        )
        layer = p.engine
        layer_rows.append(
            {
                "layer": spec.name,
                "shape_in_out": [spec.inputs, spec.outputs],
                "weight_density": spec.weight_density,
                "activation_density": spec.activation_density,
                "nnz": p.nnz,
                "engine_entries": layer.n_entries,
                "engine_fillers": layer.n_fillers,
                "pe_entries": layer.pe_entries().tolist(),
                "resident_bytes": layer.resident_bytes,
                "bytes_per_nonzero": layer.resident_bytes / p.nnz,
                "bytes_per_entry": layer.resident_bytes / layer.n_entries,
                "csc_kernel_bytes_per_nonzero": p.blocked.resident_bytes / p.nnz,
                "batch1_us": _us(t1),
                "batch1_us_min": _us(min1),
                "batch64_us_per_input": _us(t64, BATCH),
                "batch64_us_per_input_min": _us(min64, BATCH),
                "bytes_batch1": {
                    "engine": engine_bytes(p, p.vectors),
                    **{m: baseline_bytes(p, m, 1) for m in t1 if not m.startswith("engine")},
                },
            }
        )

    # -- stacks ---------------------------------------------------------------------------------
    stack_rows = []
    for stack, names in STACKS.items():
        ps = [prepared[n] for n in names]

        def stack_call(f, ps=ps):
            return lambda i: [f(p, i) for p in ps]

        t1, min1 = time_interleaved(
            {k: stack_call(f) for k, f in batch1.items()}, rounds, budget_stack
        )
        t64, min64 = time_interleaved(
            {k: stack_call(f) for k, f in BATCH64.items()}, rounds, budget_stack
        )
        stack_rows.append(
            {
                "stack": stack,
                "layers": names,
                "batch1_us": _us(t1),
                "batch1_us_min": _us(min1),
                "batch64_us_per_input": _us(t64, BATCH),
                "batch64_us_per_input_min": _us(min64, BATCH),
                "bytes_batch1": {
                    "engine": sum(engine_bytes(p, p.vectors) for p in ps),
                    **{
                        m: sum(baseline_bytes(p, m, 1) for p in ps)
                        for m in t1
                        if not m.startswith("engine")
                    },
                },
                **speedups(t1, t64),
                "fastest_call": speedups(min1, min64),
            }
        )

    # -- verdicts -------------------------------------------------------------------------------
    worst_memory = max(r["bytes_per_nonzero"] for r in layer_rows)
    memory = {
        "target": MEMORY_TARGET,
        "worst": worst_memory,
        "met": worst_memory <= MEMORY_TARGET,
        "layers_over": [r["layer"] for r in layer_rows if r["bytes_per_nonzero"] > MEMORY_TARGET],
    }
    targets = verdicts(stack_rows) | {"memory_bytes_per_nonzero": memory}
    targets_fastest = verdicts([r["fastest_call"] | {"stack": r["stack"]} for r in stack_rows])
    machine["load_average_after"] = os.getloadavg()
    machine["numba_threading_layer"] = numba.threading_layer()
    return {
        "benchmark": "engine",
        "command": " ".join(sys.argv),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "seed": args.seed,
        "machine": machine,
        "method_threads": thread_counts(threads),
        "batch": BATCH,
        "layers": layer_rows,
        "stacks": stack_rows,
        "format_vs_kernel": {
            key: geomean([r[key] for r in stack_rows]) if stack_rows[0][key] else None
            for key in FORMAT_VS_KERNEL
        },
        "targets": targets,
        "targets_fastest_call": targets_fastest,
        "seconds": time.perf_counter() - started,
    }


def speedups(t1: dict[str, float], t64: dict[str, float]) -> dict:
    """The engine's speedups for one stack from its times at batch 1 and batch 64."""
    engine_t = t1["engine"]
    dense_name, dense_t = _fastest(t1, DENSE)
    sparse_name, sparse_t = _fastest(t1, SPARSE)
    realizable_name, realizable_t = _fastest(t1, REALIZABLE)
    sparse64_name, sparse64_t = _fastest(t64, SPARSE64)
    csc1 = t1["CSC kernel 1 thread"]
    return {
        "fastest_dense": dense_name,
        "speedup_vs_dense": dense_t / engine_t,
        "fastest_sparse": sparse_name,
        "speedup_vs_sparse": sparse_t / engine_t,
        "fastest_realizable_sparse": realizable_name,
        "speedup_vs_realizable_sparse": realizable_t / engine_t,
        # the format: 8-byte non-zeros vs 1-byte entries, one loop structure, equal threads
        "format_gain": t1["CSC kernel"] / engine_t,
        "format_gain_1_thread": csc1 / t1["engine 1 thread"],
        # the kernel: scipy's CSR product vs the compiled CSC kernel, one format, one thread
        "kernel_gain_1_thread": t1["scipy CSR"] / csc1 if "scipy CSR" in t1 else None,
        # the pre-sliced scipy oracle (active columns gathered untimed) vs the same kernel
        "oracle_vs_kernel_1_thread": (
            csc1 / t1["scipy CSC active"] if "scipy CSC active" in t1 else None
        ),
        "speedup_batch64_vs_torch": t64["torch dense"] / t64["engine"],
        "fastest_sparse64": sparse64_name,
        "speedup_batch64_vs_sparse": sparse64_t / t64["engine"],
    }


def verdicts(stack_rows: list[dict]) -> dict:
    """The issue's speed targets over the stacks' speedups."""

    def gm(key):
        return geomean([r[key] for r in stack_rows])

    nt = next(r for r in stack_rows if r["stack"] == "NeuralTalk")
    return {
        "batch1_vs_dense": _target(gm("speedup_vs_dense"), 10.0),
        "batch1_vs_sparse": _target(gm("speedup_vs_sparse"), 3.0),
        "batch1_neuraltalk_vs_sparse": _target(nt["speedup_vs_sparse"], 1.5, "value"),
        "batch1_vs_realizable_sparse": _target(gm("speedup_vs_realizable_sparse"), 3.0),
        "batch1_neuraltalk_vs_realizable_sparse": _target(
            nt["speedup_vs_realizable_sparse"], 1.5, "value"
        ),
        "batch64_vs_torch_dense": _target(gm("speedup_batch64_vs_torch"), 5.0),
        "batch64_vs_sparse_dense": _target(gm("speedup_batch64_vs_sparse"), 2.0),
    }


def _target(value: float, target: float, key: str = "geomean") -> dict:
    return {"target": target, key: value, "met": value >= target}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about a minute)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=min(2, numba.config.NUMBA_NUM_THREADS))
    args = parser.parse_args(argv)
    with set_threads(args.threads):
        result = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"\nwrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

COLUMNS1 = (
    "engine",
    "engine 1 thread",
    "CSC kernel",
    "CSC kernel 1 thread",
    "numpy dense",
    "torch dense",
    "scipy CSR",
    "scipy CSC active",
    "torch CSR",
)
COLUMNS64 = ("engine", "CSC kernel", "numpy dense", "torch dense", "torch CSR")


def _cell(value: float | None, width: int = 10) -> str:
    return f"{value:>{width}.1f}" if value is not None else f"{'n/a':>{width}}"


def _table(rows: list[dict], key: str, field: str, columns: tuple[str, ...], threads: dict) -> None:
    print(f"{'':<12}" + "".join(f"{c[:14]:>15}" for c in columns))
    print(f"{'threads':<12}" + "".join(f"{threads[c]:>15}" for c in columns))
    for r in rows:
        print(f"{r[key]:<12}" + "".join(_cell(r[field].get(c), 15) for c in columns))


def print_report(result: dict) -> None:
    threads = result["method_threads"]
    if result["machine"]["versions"]["scipy"] is None:
        print("scipy is not installed: its columns are n/a")
    for title, rows, key in (
        ("Layers alone, batch 1, median us", result["layers"], "layer"),
        ("Stacks (every layer in turn), batch 1, median us", result["stacks"], "stack"),
    ):
        print(f"\n{title}")
        _table(rows, key, "batch1_us", COLUMNS1, threads)
    print("\nBatch 64, median us per input")
    for rows, key in ((result["layers"], "layer"), (result["stacks"], "stack")):
        _table(rows, key, "batch64_us_per_input", COLUMNS64, threads)
    print("\nBytes read per inference, batch 1 (kB)")
    print(f"{'':<12}" + "".join(f"{c[:14]:>15}" for c in COLUMNS1))
    for r in result["layers"] + result["stacks"]:
        name = r.get("layer") or r.get("stack")
        kb = {c: v / 1e3 for c, v in r["bytes_batch1"].items()}
        print(f"{name:<12}" + "".join(_cell(kb.get(c), 15) for c in COLUMNS1))
    print("\nEngine memory per layer (4-bit codes and indices, one byte per entry)")
    print(
        f"{'':<12}{'non-zeros':>12}{'entries':>12}{'fillers':>10}{'resident kB':>13}"
        f"{'B/non-zero':>12}{'B/entry':>9}{'CSC B/nz':>10}"
    )
    for r in result["layers"]:
        print(
            f"{r['layer']:<12}{r['nnz']:>12}{r['engine_entries']:>12}{r['engine_fillers']:>10}"
            f"{r['resident_bytes'] / 1e3:>13.1f}{r['bytes_per_nonzero']:>12.3f}"
            f"{r['bytes_per_entry']:>9.3f}{r['csc_kernel_bytes_per_nonzero']:>10.3f}"
        )
    print(
        "\nStacks: engine speedups (batch 1 vs dense / vs fastest sparse, batch 64 vs torch dense"
        " / vs best sparse x dense) and the format / kernel split"
    )
    for r in result["stacks"]:
        kernel = r["kernel_gain_1_thread"]  # scipy CSR / CSC kernel, one thread
        print(
            f"{r['stack']:<12}{r['speedup_vs_dense']:>7.2f}x {r['speedup_vs_sparse']:>6.2f}x "
            f"({r['fastest_sparse']}) {r['speedup_batch64_vs_torch']:>6.2f}x "
            f"{r['speedup_batch64_vs_sparse']:>6.2f}x ({r['fastest_sparse64']}); format "
            f"{r['format_gain']:.2f}x ({r['format_gain_1_thread']:.2f}x on 1 thread), kernel "
            f"{(f'{kernel:.2f}x' if kernel else 'n/a')} on 1 thread"
        )
    print("\nTargets")
    for name, t in result["targets"].items():
        verdict = "MET" if t["met"] else "NOT MET"
        value = t.get("geomean", t.get("value", t.get("worst")))
        print(f"  {name:<30}{value:>8.2f} (target {t['target']}){verdict:>10}")
    m = result["machine"]
    before = m["load_average"][0]
    if before > BUSY_LOAD:
        print(
            f"\nWARNING: load average {before:.2f} on {m['cpus']} CPUs before the run: other work "
            "may have shared the cores and the timings are not reliable; run again when idle"
        )
    print(
        f"\n{m['cpu'].get('Model name', '?')}, {m['cpus']} CPUs, threads {m['threads']}; load "
        f"average before/after {before:.2f}/{m['load_average_after'][0]:.2f}; "
        f"{result['seconds']:.0f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
