"""Benchmark: the engine beyond EIE's nine layers, a sweep of shapes and densities (issue 12).

A seeded grid within the issue's ranges: rows and columns from 512 to 30,000, aspect ratios up to
1:60 both ways, weight density 2-20%, activation density 10-100%. Every shape is run at every
weight density of ``WEIGHT_DENSITIES``, each paired with one activation density of
``ACTIVATION_DENSITIES`` (shifted from shape to shape, so that every pair occurs over the grid).
Shapes stop at about 40M weights: the dense baselines need the dense matrix (a 30,000 x 30,000
float32 one is 3.6 GB, and building it takes longer than the whole sweep).

Layers are built as in ``engine_bench.py`` (random positions, 4-bit codes and 4-bit indices, one
byte per entry). Per point, all at ``--threads`` threads (numba, torch): batch 1, the engine
(``sparse_matvec``) against the compiled CSC kernel (``_baselines``, float32 values, int32 rows,
row blocks, only active columns, the engine's loop structure); batch 64, the engine
(``sparse_matmul``) against torch dense ``mm`` (and the CSC kernel batched, for reference); and
batch 1 again with both on one thread, which other processes on the cores disturb less. Median
of interleaved calls as in ``engine_bench.time_interleaved``.

Targets (issue 12): at batch 1 never slower than the compiled CSC kernel and >= 2x it in
geometric mean; at batch 64 never slower than torch dense for weight density <= 15%, and >= 2x
it in geometric mean.

    python benchmarks/engine_sweep.py [--json PATH] [--quick] [--seed N] [--threads N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numba
import numpy as np
import torch

from _baselines import BlockedCSC, csc_matmul, csc_matvec
from deepzip.engine import EngineLayer, sparse_matmul, sparse_matvec
from engine_bench import (
    BATCH,
    LayerSpec,
    geomean,
    machine_info,
    random_inputs,
    random_layer,
    set_threads,
    time_interleaved,
)

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "engine_sweep.json"
SHAPES = [  # (rows, cols) = (outputs, inputs)
    (512, 512),
    (2048, 2048),
    (6000, 6000),
    (512, 30000),  # 1:60, wide
    (30000, 512),  # 60:1, tall
    (1024, 16384),  # 1:16
    (16384, 1024),
    (1500, 24000),  # 1:16, larger
    (3000, 600),  # 5:1
    (4096, 9216),  # AlexNet fc6's shape
]
QUICK_SHAPES = [(512, 512), (512, 30000), (30000, 512), (2048, 2048)]
WEIGHT_DENSITIES = (0.02, 0.05, 0.10, 0.20)
ACTIVATION_DENSITIES = (0.10, 0.35, 1.0)
DENSE_WEIGHT_LIMIT = 0.15  # batch-64 "never slower than torch dense" applies up to this density
POOL = 4


def grid(shapes: list[tuple[int, int]]) -> list[LayerSpec]:
    """Every shape at every weight density, activation densities cycled with a per-shape shift."""
    specs = []
    for s, (rows, cols) in enumerate(shapes):
        for w, weight_density in enumerate(WEIGHT_DENSITIES):
            activation = ACTIVATION_DENSITIES[(s + w) % len(ACTIVATION_DENSITIES)]
            name = f"{rows}x{cols} w{weight_density:.0%} a{activation:.0%}"
            specs.append(LayerSpec(name, cols, rows, weight_density, activation))
    return specs


def run_point(spec: LayerSpec, rng: np.random.Generator, threads: int, budget: float) -> dict:
    layer, dense = random_layer(spec, rng)
    engine = EngineLayer.from_compressed(layer, threads)
    del layer
    blocked = BlockedCSC.from_dense(dense, threads)
    dense_torch = torch.from_numpy(dense)
    vectors = random_inputs(rng, spec.inputs, spec.activation_density, POOL)
    batches = random_inputs(rng, spec.inputs, spec.activation_density, 2, BATCH)
    batches_torch = [torch.from_numpy(b) for b in batches]
    want = dense.astype(np.float64) @ vectors[0].astype(np.float64)
    scale = max(float(np.abs(want).max()), 1e-30)
    for got in (sparse_matvec(engine, vectors[0]), csc_matvec(blocked, vectors[0])):
        assert np.abs(got - want).max() <= 1e-4 * scale, spec.name
    t1, _ = time_interleaved(
        {
            "engine": lambda i: sparse_matvec(engine, vectors[i % POOL]),
            "CSC kernel": lambda i: csc_matvec(blocked, vectors[i % POOL]),
            "engine 1 thread": lambda i: sparse_matvec(engine, vectors[i % POOL], threads=1),
            "CSC kernel 1 thread": lambda i: csc_matvec(blocked, vectors[i % POOL], threads=1),
        },
        rounds=4,
        budget_s=budget,
    )
    t64, _ = time_interleaved(
        {
            "engine": lambda i: sparse_matmul(engine, batches[i % 2]),
            "torch dense": lambda i: torch.mm(dense_torch, batches_torch[i % 2]),
            "CSC kernel": lambda i: csc_matmul(blocked, batches[i % 2]),
        },
        rounds=4,
        budget_s=budget,
    )
    return {
        "point": spec.name,
        "rows": spec.outputs,
        "cols": spec.inputs,
        "weight_density": spec.weight_density,
        "activation_density": spec.activation_density,
        "nnz": blocked.nnz,
        "engine_bytes_per_nonzero": engine.resident_bytes / max(blocked.nnz, 1),
        "batch1_us": {k: v * 1e6 for k, v in t1.items()},
        "batch64_us_per_input": {k: v * 1e6 / BATCH for k, v in t64.items()},
        "batch1_vs_csc": t1["CSC kernel"] / t1["engine"],
        "batch1_vs_csc_1_thread": t1["CSC kernel 1 thread"] / t1["engine 1 thread"],
        "batch64_vs_torch_dense": t64["torch dense"] / t64["engine"],
        "batch64_vs_csc": t64["CSC kernel"] / t64["engine"],
    }


def summarise(points: list[dict]) -> dict:
    b1 = [p["batch1_vs_csc"] for p in points]
    b64 = [p["batch64_vs_torch_dense"] for p in points]
    b64_sparse = [
        p["batch64_vs_torch_dense"] for p in points if p["weight_density"] <= DENSE_WEIGHT_LIMIT
    ]
    worst1 = min(points, key=lambda p: p["batch1_vs_csc"])
    worst64 = min(
        (p for p in points if p["weight_density"] <= DENSE_WEIGHT_LIMIT),
        key=lambda p: p["batch64_vs_torch_dense"],
    )
    return {
        "batch1_vs_csc_never_slower": {
            "worst": worst1["batch1_vs_csc"],
            "worst_point": worst1["point"],
            "slower_points": sum(r < 1.0 for r in b1),
            "met": min(b1) >= 1.0,
        },
        "batch1_vs_csc_geomean": {"target": 2.0, "geomean": geomean(b1), "met": geomean(b1) >= 2},
        "batch64_vs_torch_never_slower_up_to_15pct": {
            "worst": worst64["batch64_vs_torch_dense"],
            "worst_point": worst64["point"],
            "slower_points": sum(r < 1.0 for r in b64_sparse),
            "met": min(b64_sparse) >= 1.0,
        },
        "batch64_vs_torch_geomean": {
            "target": 2.0,
            "geomean": geomean(b64),
            "met": geomean(b64) >= 2.0,
        },
        "batch64_vs_csc_geomean": {"geomean": geomean([p["batch64_vs_csc"] for p in points])},
        "batch1_vs_csc_1_thread_geomean": {
            "geomean": geomean([p["batch1_vs_csc_1_thread"] for p in points]),
            "worst": min(p["batch1_vs_csc_1_thread"] for p in points),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--quick", action="store_true", help="four shapes, short timings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=min(2, numba.config.NUMBA_NUM_THREADS))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    specs = grid(QUICK_SHAPES if args.quick else SHAPES)
    budget = 0.3 if args.quick else 1.0
    points = []
    with set_threads(args.threads):
        machine = machine_info(args.threads)
        for spec in specs:
            points.append(run_point(spec, rng, args.threads, budget))
            p = points[-1]
            print(
                f"{p['point']:<28} batch 1 vs CSC {p['batch1_vs_csc']:6.2f}x (1 thread "
                f"{p['batch1_vs_csc_1_thread']:5.2f}x)   batch 64 vs torch dense "
                f"{p['batch64_vs_torch_dense']:6.2f}x",
                flush=True,
            )
            gc.collect()
    machine["load_average_after"] = os.getloadavg()
    result = {
        "benchmark": "engine_sweep",
        "command": " ".join(sys.argv),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "seed": args.seed,
        "machine": machine,
        "method_threads": dict.fromkeys(("engine", "CSC kernel", "torch dense"), args.threads)
        | {"engine 1 thread": 1, "CSC kernel 1 thread": 1},
        "batch": BATCH,
        "points": points,
        "targets": summarise(points),
        "seconds": time.perf_counter() - started,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"\nwrote {args.json}")
    return 0


def print_report(result: dict) -> None:
    print(
        f"\n{'point':<28}{'nnz':>10}{'engine us':>11}{'CSC us':>10}{'ratio':>8}"
        f"{'eng us/in':>11}{'torch us/in':>12}{'ratio':>8}"
    )
    for p in result["points"]:
        print(
            f"{p['point']:<28}{p['nnz']:>10}{p['batch1_us']['engine']:>11.1f}"
            f"{p['batch1_us']['CSC kernel']:>10.1f}{p['batch1_vs_csc']:>7.2f}x"
            f"{p['batch64_us_per_input']['engine']:>11.2f}"
            f"{p['batch64_us_per_input']['torch dense']:>12.2f}{p['batch64_vs_torch_dense']:>7.2f}x"
        )
    print("\nTargets")
    for name, t in result["targets"].items():
        value = t.get("geomean", t.get("worst"))
        verdict = {True: "MET", False: "NOT MET", None: ""}[t.get("met")]
        where = f" at {t['worst_point']}" if "worst_point" in t else ""
        print(f"  {name:<44}{value:>7.2f}x{where} {verdict}")
    m = result["machine"]
    print(
        f"\nthreads {m['threads']}; load average before/after {m['load_average'][0]:.2f}/"
        f"{m['load_average_after'][0]:.2f}; {result['seconds']:.0f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
