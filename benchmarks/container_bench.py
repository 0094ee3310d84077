"""The .dzip container at AlexNet scale: write and load times, and the P+Q size vs the paper.

A synthetic AlexNet-shaped model (61M weights): the eight layers of Deep Compression's Table 4
with its per-layer densities, kept positions chosen at random, 8-bit codes for the convolutions
and 5-bit codes for the fully connected layers, 4-bit relative indices. Codes follow a bell-shaped
distribution over the codebook, as trained weights do, so the Huffman stage has something to find.

Targets (issue 3): write and load back in under 2 s each on 2 cores; the P+Q size (fixed-width
codes and indices, before Huffman coding) within 10% of Table 4's P+Q compress rate, 3.7% of the
dense size. Times are medians of several runs after one warm-up (which loads the numba cache).

Usage: python benchmarks/container_bench.py [--json PATH] [--repeats N] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.container import dzip_sizes, read_dzip, write_dzip
from deepzip.report import inspect_report

# Deep Compression, Table 4: AlexNet layer, weight shape, fraction kept after pruning.
ALEXNET = [
    ("conv1", (96, 3, 11, 11), 0.84),
    ("conv2", (256, 48, 5, 5), 0.38),
    ("conv3", (384, 256, 3, 3), 0.35),
    ("conv4", (384, 192, 3, 3), 0.37),
    ("conv5", (256, 192, 3, 3), 0.37),
    ("fc6", (4096, 9216), 0.09),
    ("fc7", (4096, 4096), 0.09),
    ("fc8", (1000, 4096), 0.25),
]
PAPER_PQ_RATE = 0.037  # Table 4, "P+Q" compress rate of the whole network
PAPER_PQH_RATE = 0.0288  # Table 4, "P+Q+H"


def synthetic_layer(name: str, shape: tuple[int, ...], density: float, rng) -> CompressedLayer:
    conv = len(shape) == 4
    bits = 8 if conv else 5
    k = 2**bits - 1  # code 0 is the zero
    mask = rng.random(shape, dtype=np.float32) < density
    # Bell-shaped code distribution: trained weights cluster around the middle of the codebook.
    draws = np.clip(np.rint(rng.normal(k / 2, k / 6, size=int(mask.sum()))), 0, k - 1)
    codes = np.zeros(shape, dtype=np.uint8)
    codes[mask] = draws.astype(np.uint8) + 1
    codebook = np.concatenate([[0.0], np.linspace(-0.1, 0.1, k)]).astype(np.float32)
    bias = rng.normal(0, 0.01, shape[0]).astype(np.float32)
    return CompressedLayer(
        name,
        "conv2d" if conv else "linear",
        codebook,
        codes,
        mask,
        bias,
        weight_bits=bits,
        index_bits=4,
    )


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/container.json"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    model = CompressedModel([synthetic_layer(n, s, d, rng) for n, s, d in ALEXNET])
    weights = sum(layer.num_weights for layer in model.layers)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alexnet.dzip"
        write_s = median_time(lambda: write_dzip(path, model), args.repeats)
        read_s = median_time(lambda: read_dzip(path), args.repeats)
        back = read_dzip(path)
        identical = all(
            np.array_equal(a.codes, b.codes) and np.array_equal(a.mask, b.mask)
            for a, b in zip(model.layers, back.layers)
        )
        sizes = dzip_sizes(path)
        report = inspect_report(sizes)

    pq_rate = report.total.rate_pq
    pqh_rate = report.total.rate_pqh
    pq_error = pq_rate / PAPER_PQ_RATE - 1
    targets = {
        "write_under_2s": write_s < 2.0,
        "load_under_2s": read_s < 2.0,
        "pq_within_10pct_of_paper": abs(pq_error) <= 0.10,
        "round_trip_identical": identical,
    }

    print(
        f"synthetic AlexNet: {weights:,} weights, {report.total.kept:.2%} kept, "
        f"file {report.file_bytes:,} bytes"
    )
    print(f"{'layer':<7}{'weights':>12}{'kept':>8}{'entries/kept':>14}{'P+Q':>9}{'P+Q+H':>9}")
    for row, layer in zip(report.rows, sizes.layers):
        per_kept = layer.n_entries / layer.n_kept
        print(
            f"{row.name:<7}{row.weights:>12,}{row.kept:>8.1%}{per_kept:>14.3f}"
            f"{row.rate_pq:>9.2%}{row.rate_pqh:>9.2%}"
        )
    print(
        f"{'total':<7}{report.total.weights:>12,}{report.total.kept:>8.1%}{'':>14}"
        f"{pq_rate:>9.2%}{pqh_rate:>9.2%}"
    )
    print(
        f"paper (Table 4): P+Q {PAPER_PQ_RATE:.2%}, P+Q+H {PAPER_PQH_RATE:.2%}; "
        f"ours P+Q is {pq_error:+.1%} off"
    )
    print(
        f"write {write_s:.3f} s, load {read_s:.3f} s (median of {args.repeats}), "
        f"round trip identical: {identical}"
    )
    for name, met in targets.items():
        print(f"  {name}: {'MET' if met else 'NOT MET'}")

    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "weights": weights,
        "file_bytes": report.file_bytes,
        "dense_bytes": report.dense_bytes,
        "write_seconds": write_s,
        "load_seconds": read_s,
        "rate_pq": pq_rate,
        "rate_pqh": pqh_rate,
        "paper_rate_pq": PAPER_PQ_RATE,
        "paper_rate_pqh": PAPER_PQH_RATE,
        "layers": [row.to_dict() for row in report.rows],
        "parts": report.parts,
        "targets": targets,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
