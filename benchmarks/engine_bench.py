"""Benchmark: deepzip's EIE-style engine against dense and sparse baselines on EIE's Table III.

The nine layers of EIE's Table III (Han et al. 2016) with synthetic weights of the paper's shapes,
weight density and activation density, at random positions: a 4-bit codebook (code 0 the exact
zero, 15 shared weights) and 4-bit relative indices, so the engine stores one byte per entry.
Each layer is ``(out, in)``; the input vectors have the paper's activation density, non-zeros
uniform in (0, 1).

Methods at batch 1: deepzip's engine (``sparse_matvec``), numpy dense (``W @ x``), torch dense,
scipy CSR (``W @ x``), scipy CSC restricted to the non-zero activations (the faster of
``W_csc[:, nz] @ x[nz]`` and a sparse ``x`` times ``W.T`` in CSR, both visit only the active
columns), and torch sparse CSR. At batch 64: the engine (``sparse_matmul``) and the dense ones.

Timing: median after warm-up, methods interleaved round by round in one run (a short pause and one
untimed call before each method's block, so that the other library's idle OpenMP threads stop
spinning), each call on the next of a pool of different inputs (so that a layer does not keep
only the columns one input touches in cache). Layers are timed alone (over and over: they sit in
cache) and as the three networks' stacks, every layer of the stack in turn, each on an input of
its activation density, as an inference runs them: AlexNet fc6-fc7-fc8, VGG-16 fc6-fc7-fc8,
NeuralTalk We, Wd, LSTM. A stack's working set exceeds the caches for the dense and the
8-12-bytes-per-entry sparse formats.

Bytes read per inference are counted from the formats, not measured: the engine reads the entries
and two pointers per PE of the active columns, the input and the output; scipy keeps int32
indices and float32 values (8 bytes per non-zero), torch CSR int64 indices (12 bytes).

Targets (issue), geometric mean over the three stacks: batch 1 >= 5x faster than the faster of
numpy and torch dense and >= 3x faster than the fastest sparse baseline; batch 64 >= 2x faster per
input than torch dense. Memory: resident bytes per layer <= 1.25 x (entries x 1 byte + pointers +
codebook).

    python benchmarks/engine_bench.py [--json PATH] [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numba
import numpy as np
import torch

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
BUSY_LOAD = 1.5  # 1-minute load average before the run above which the report warns (the run
# itself keeps both cores busy, so the load average after it is about 2 even on an idle machine)


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
SPARSE = ("scipy CSR", "scipy CSC active", "torch CSR")


@dataclass
class Prepared:
    """One layer in every method's format, and its inputs."""

    spec: LayerSpec
    engine: EngineLayer
    dense: np.ndarray  # float32 (out, in)
    dense_torch: torch.Tensor
    csr: object | None
    csc: object | None
    csr_t: object | None  # W.T as CSR: rows = inputs
    torch_csr: torch.Tensor
    nnz: int
    vectors: list[np.ndarray]  # (in,) float32
    vectors_torch: list[torch.Tensor]
    batches: list[np.ndarray]  # (in, BATCH) float32
    batches_torch: list[torch.Tensor]


def make_layer(spec: LayerSpec, rng: np.random.Generator, pes: int) -> Prepared:
    shape = (spec.outputs, spec.inputs)
    mask = rng.random(shape, dtype=np.float32) < spec.weight_density
    codes = np.zeros(shape, dtype=np.uint8)
    codes[mask] = rng.integers(1, 2**WEIGHT_BITS, int(mask.sum()), dtype=np.uint8)
    shared = np.sort(rng.normal(0.0, 0.05, 2**WEIGHT_BITS - 1))
    codebook = np.concatenate([[0.0], shared]).astype(np.float32)
    layer = CompressedLayer(
        spec.name, "linear", codebook, codes, mask, None, WEIGHT_BITS, INDEX_BITS
    )
    engine = EngineLayer.from_compressed(layer, pes)
    dense = codebook[codes]
    del codes, mask, layer
    vectors, batches = [], []
    for _ in range(POOL):
        active = rng.random(spec.inputs) < spec.activation_density
        vectors.append(np.where(active, rng.random(spec.inputs), 0.0).astype(np.float32))
    for _ in range(2):
        active = rng.random((spec.inputs, BATCH)) < spec.activation_density
        batches.append(np.where(active, rng.random(active.shape), 0.0).astype(np.float32))
    csr = csc = csr_t = None
    if scipy is not None:
        csr = sp.csr_matrix(dense)
        csc = csr.tocsc()
        csr_t = csc.T.tocsr()  # rows of W.T are the columns of W; same arrays as csc
    dense_torch = torch.from_numpy(dense)
    torch_csr = dense_torch.to_sparse_csr()
    return Prepared(
        spec,
        engine,
        dense,
        dense_torch,
        csr,
        csc,
        csr_t,
        torch_csr,
        int(np.count_nonzero(dense)),
        vectors,
        [torch.from_numpy(v) for v in vectors],
        batches,
        [torch.from_numpy(b) for b in batches],
    )


# ---------------------------------------------------------------------------------------------
# Methods: f(prepared, i) runs input i of the pool
# ---------------------------------------------------------------------------------------------


def _scipy_csc_slice(p: Prepared, x: np.ndarray) -> np.ndarray:
    nz = np.flatnonzero(x)
    return p.csc[:, nz] @ x[nz]


def _scipy_sparse_x(p: Prepared, x: np.ndarray) -> np.ndarray:
    nz = np.flatnonzero(x)
    row = sp.csr_matrix((x[nz], nz, np.array([0, nz.size])), shape=(1, x.size))
    return (row @ p.csr_t).toarray()[0]


BATCH1: dict[str, Callable[[Prepared, int], object]] = {
    "engine": lambda p, i: sparse_matvec(p.engine, p.vectors[i]),
    "numpy dense": lambda p, i: p.dense @ p.vectors[i],
    "torch dense": lambda p, i: torch.mv(p.dense_torch, p.vectors_torch[i]),
    "scipy CSR": lambda p, i: p.csr @ p.vectors[i],
    "scipy CSC slice": lambda p, i: _scipy_csc_slice(p, p.vectors[i]),
    "scipy sparse x": lambda p, i: _scipy_sparse_x(p, p.vectors[i]),
    "torch CSR": lambda p, i: torch.mv(p.torch_csr, p.vectors_torch[i]),
}
BATCH64: dict[str, Callable[[Prepared, int], object]] = {
    "engine": lambda p, i: sparse_matmul(p.engine, p.batches[i % 2]),
    "numpy dense": lambda p, i: p.dense @ p.batches[i % 2],
    "torch dense": lambda p, i: torch.mm(p.dense_torch, p.batches_torch[i % 2]),
}


def _check_outputs(p: Prepared) -> None:
    """Every method computes the same product (a benchmark of wrong answers is worthless)."""
    want = p.dense.astype(np.float64) @ p.vectors[0].astype(np.float64)
    scale = np.abs(want).max()
    for name, f in BATCH1.items():
        if name.startswith("scipy") and scipy is None:
            continue
        got = np.asarray(f(p, 0), dtype=np.float64)
        assert np.abs(got - want).max() <= 1e-4 * scale, (p.spec.name, name)
    want = p.dense.astype(np.float64) @ p.batches[0].astype(np.float64)
    for name, f in BATCH64.items():
        got = np.asarray(f(p, 0), dtype=np.float64)
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max(), (p.spec.name, name)


def time_interleaved(
    calls: dict[str, Callable[[int], object]], rounds: int, budget_s: float
) -> dict[str, float]:
    """Median seconds per call of each method; methods alternate round by round. The fastest
    call of each is kept in ``MINIMA`` (reported in the JSON only: the targets use medians)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for f in calls.values():  # warm-up (compilation, caches, torch's thread pool)
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
    MINIMA.clear()
    MINIMA.update({name: min(s) for name, s in samples.items()})
    return {name: statistics.median(s) for name, s in samples.items()}


MINIMA: dict[str, float] = {}


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
    if method in DENSE:
        return 4 * n_in * n_out + io
    if method == "scipy CSR":
        return 8 * p.nnz + 4 * (n_out + 1) + io
    if method == "torch CSR":
        return 12 * p.nnz + 8 * (n_out + 1) + io
    if method == "scipy CSC active":
        density = p.spec.activation_density
        return 8 * p.nnz * density + 8 * n_in * density + io
    raise KeyError(method)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def _fold_csc(times: dict[str, float]) -> tuple[dict[str, float], str]:
    """Merge the two restricted-CSC formulations into the faster one (in ``MINIMA`` too)."""
    slice_t, sparse_t = times.pop("scipy CSC slice", None), times.pop("scipy sparse x", None)
    if slice_t is None:
        return times, ""
    times["scipy CSC active"] = min(slice_t, sparse_t)
    MINIMA["scipy CSC active"] = min(MINIMA.pop("scipy CSC slice"), MINIMA.pop("scipy sparse x"))
    return times, "W_csc[:, nz] @ x[nz]" if slice_t <= sparse_t else "sparse x @ W.T (CSR)"


def _geomean(values: list[float]) -> float:
    return math.exp(statistics.mean(math.log(v) for v in values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about a minute)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    pes = threads
    rounds, budget_alone, budget_stack = (2, 0.4, 1.0) if args.quick else (10, 3.0, 10.0)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    load_before = os.getloadavg()

    prepared: dict[str, Prepared] = {}
    batch1 = dict(BATCH1)
    if scipy is None:
        batch1 = {k: v for k, v in batch1.items() if not k.startswith("scipy")}
    for spec in LAYERS:
        prepared[spec.name] = make_layer(spec, rng, pes)
        _check_outputs(prepared[spec.name])
        gc.collect()

    # -- layers alone ---------------------------------------------------------------------------
    layer_rows = []
    for spec in LAYERS:
        p = prepared[spec.name]
        calls1 = {k: (lambda i, f=f, p=p: f(p, i)) for k, f in batch1.items()}
        t1, how = _fold_csc(time_interleaved(calls1, rounds, budget_alone))
        min1 = dict(MINIMA)
        calls64 = {k: (lambda i, f=f, p=p: f(p, i)) for k, f in BATCH64.items()}
        t64 = time_interleaved(calls64, rounds, budget_alone)
        min64 = dict(MINIMA)
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
                "memory_bound_bytes": layer.memory_bound_bytes,
                "within_memory_bound": layer.resident_bytes <= layer.memory_bound_bytes,
                "batch1_us": {k: v * 1e6 for k, v in t1.items()},
                "batch1_us_min": {k: v * 1e6 for k, v in min1.items()},
                "scipy_csc_active_form": how,
                "batch64_us_per_input": {k: v * 1e6 / BATCH for k, v in t64.items()},
                "batch64_us_per_input_min": {k: v * 1e6 / BATCH for k, v in min64.items()},
                "bytes_batch1": {
                    "engine": engine_bytes(p, p.vectors),
                    **{m: baseline_bytes(p, m, 1) for m in t1 if m != "engine"},
                },
                "bytes_batch64": {
                    "engine": engine_bytes(p, p.batches),
                    **{m: baseline_bytes(p, m, BATCH) for m in DENSE},
                },
            }
        )

    # -- stacks ---------------------------------------------------------------------------------
    stack_rows = []
    for stack, names in STACKS.items():
        ps = [prepared[n] for n in names]

        def stack_call(f, ps=ps):
            return lambda i: [f(p, i) for p in ps]

        t1, how = _fold_csc(
            time_interleaved({k: stack_call(f) for k, f in batch1.items()}, rounds, budget_stack)
        )
        min1 = dict(MINIMA)
        t64 = time_interleaved({k: stack_call(f) for k, f in BATCH64.items()}, rounds, budget_stack)
        min64 = dict(MINIMA)
        row = {
            "stack": stack,
            "layers": names,
            "batch1_us": {k: v * 1e6 for k, v in t1.items()},
            "batch1_us_min": {k: v * 1e6 for k, v in min1.items()},
            "scipy_csc_active_form": how,
            "batch64_us_per_input": {k: v * 1e6 / BATCH for k, v in t64.items()},
            "batch64_us_per_input_min": {k: v * 1e6 / BATCH for k, v in min64.items()},
            "bytes_batch1": {
                "engine": sum(engine_bytes(p, p.vectors) for p in ps),
                **{m: sum(baseline_bytes(p, m, 1) for p in ps) for m in t1 if m != "engine"},
            },
        }
        engine_t = t1["engine"]
        row["speedup_vs_dense"] = min(t1[m] for m in DENSE) / engine_t
        sparse = [m for m in SPARSE if m in t1]
        row["speedup_vs_sparse"] = min(t1[m] for m in sparse) / engine_t if sparse else None
        row["speedup_batch64_vs_torch"] = t64["torch dense"] / t64["engine"]
        stack_rows.append(row)

    # -- verdicts -------------------------------------------------------------------------------
    gm_dense = _geomean([r["speedup_vs_dense"] for r in stack_rows])
    gm_sparse = (
        _geomean([r["speedup_vs_sparse"] for r in stack_rows])
        if all(r["speedup_vs_sparse"] for r in stack_rows)
        else None
    )
    gm_64 = _geomean([r["speedup_batch64_vs_torch"] for r in stack_rows])
    memory_ok = all(r["within_memory_bound"] for r in layer_rows)
    targets = {
        "batch1_vs_dense": {"target": 5.0, "geomean": gm_dense, "met": gm_dense >= 5.0},
        "batch1_vs_sparse": {
            "target": 3.0,
            "geomean": gm_sparse,
            "met": None if gm_sparse is None else gm_sparse >= 3.0,
        },
        "batch64_vs_torch_dense": {"target": 2.0, "geomean": gm_64, "met": gm_64 >= 2.0},
        "memory_within_1.25x": {"met": memory_ok},
    }
    result = {
        "benchmark": "engine",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "seed": args.seed,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "numba_threads": threads,
            "torch_threads": torch.get_num_threads(),
            "pes": pes,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "versions": {
            "numpy": np.__version__,
            "numba": numba.__version__,
            "torch": torch.__version__,
            "scipy": None if scipy is None else scipy.__version__,
        },
        "batch": BATCH,
        "layers": layer_rows,
        "stacks": stack_rows,
        "targets": targets,
        "seconds": time.perf_counter() - started,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"\nwrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

COLUMNS = ("engine", "numpy dense", "torch dense", "scipy CSR", "scipy CSC active", "torch CSR")


def _cell(value: float | None, width: int = 10) -> str:
    return f"{value:>{width}.1f}" if value is not None else f"{'n/a':>{width}}"


def print_report(result: dict) -> None:
    if result["versions"]["scipy"] is None:
        print("scipy is not installed: its rows are n/a")
    head = f"{'':<12}" + "".join(f"{c:>18}" for c in COLUMNS)
    for title, rows, key in (
        ("Layers alone, batch 1, median us", result["layers"], "layer"),
        ("Stacks (every layer in turn), batch 1, median us", result["stacks"], "stack"),
    ):
        print(f"\n{title}")
        print(head)
        for r in rows:
            print(f"{r[key]:<12}" + "".join(_cell(r["batch1_us"].get(c), 18) for c in COLUMNS))
    print("\nBatch 64, median us per input")
    print(f"{'':<12}" + "".join(f"{c:>18}" for c in ("engine", *DENSE)))
    for r in result["layers"] + result["stacks"]:
        name = r.get("layer") or r.get("stack")
        print(
            f"{name:<12}"
            + "".join(_cell(r["batch64_us_per_input"][c], 18) for c in ("engine", *DENSE))
        )
    print("\nBytes read per inference, batch 1 (kB)")
    print(head)
    for r in result["layers"] + result["stacks"]:
        name = r.get("layer") or r.get("stack")
        kb = {c: v / 1e3 for c, v in r["bytes_batch1"].items()}
        print(f"{name:<12}" + "".join(_cell(kb.get(c), 18) for c in COLUMNS))
    print("\nEngine memory per layer (4-bit codes and indices, one byte per entry)")
    print(f"{'':<12}{'entries':>12}{'fillers':>12}{'resident kB':>14}{'bound kB':>12}{'ratio':>8}")
    for r in result["layers"]:
        bound = r["memory_bound_bytes"] / 1.25
        print(
            f"{r['layer']:<12}{r['engine_entries']:>12}{r['engine_fillers']:>12}"
            f"{r['resident_bytes'] / 1e3:>14.1f}{r['memory_bound_bytes'] / 1e3:>12.1f}"
            f"{r['resident_bytes'] / bound:>8.3f}"
        )
    print("\nStack speedups of the engine, batch 1 vs dense / vs sparse, batch 64 vs torch dense")
    for r in result["stacks"]:
        sparse = r["speedup_vs_sparse"]
        print(
            f"{r['stack']:<12}{r['speedup_vs_dense']:>8.1f}x"
            f"{(f'{sparse:.1f}x' if sparse else 'n/a'):>10}{r['speedup_batch64_vs_torch']:>8.1f}x"
        )
    print("\nTargets (geometric mean over the three stacks)")
    for name, t in result["targets"].items():
        verdict = {True: "MET", False: "NOT MET", None: "n/a"}[t["met"]]
        value = f"{t['geomean']:.2f}x (target {t['target']}x)" if "geomean" in t else ""
        print(f"  {name:<26}{value:<30}{verdict}")
    m = result["machine"]
    before = m["load_average_before"][0]
    if before > BUSY_LOAD:
        print(
            f"\nWARNING: load average {before:.2f} on {m['cpus']} CPUs before the run: other work "
            "may have shared the cores and the timings are not reliable; run again when idle"
        )
    print(
        f"\n{m['cpus']} CPUs, numba threads {m['numba_threads']}, torch threads "
        f"{m['torch_threads']}, PEs {m['pes']}; load average before/after "
        f"{m['load_average_before'][0]:.2f}/{m['load_average_after'][0]:.2f}; "
        f"{result['seconds']:.0f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
