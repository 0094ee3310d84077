"""Benchmark: deepzip's 1-D k-means against scikit-learn's KMeans on a pruned AlexNet-fc6 layer.

Target (issue): on a layer of 38M weights with 9% non-zero (AlexNet fc6's shape, 4096x9216) and 32
clusters, deepzip is at least 10x faster than scikit-learn's KMeans (same initial centroids, one
run) at a within-cluster sum of squares no worse than 0.1% above it.

The layer is float32 standard normal with all but the 9% largest magnitudes pruned, so the
surviving weights are bimodal (|w| > ~1.70), like a real pruned layer. Linear init puts 8 of the
32 centroids in the pruned gap around zero; both libraries relocate such empty clusters to the
values farthest from their centroids. deepzip is timed end to end from the dense layer: extract
the non-zeros, linear init, fit, codes of the non-zeros (the fit's labels). scikit-learn is timed
on its fit alone, on the non-zeros as a float32 column, from the same initial centroids, with its
default tol=1e-4 (the target's baseline) and with tol=0 (300 iterations, if that should take at
most TOL0_LIMIT_S). Every inertia in the tables is recomputed in float64 from the centroids and
labels, the same way for every row.

scikit-learn computes float32 input in float32, so its distances, sums and choice of values to
relocate differ from deepzip's float64 and its trajectory drifts away. The control runs it on the
same values widened to float64, with tol=0, from the linear and from the density init: there both
libraries follow the same rules in the same arithmetic and should reach the same clustering after
the same 300 iterations. Skip it with --no-control.

    python benchmarks/kmeans_bench.py [--json PATH] [--seed N] [--repeats N] [--no-control]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn
import threadpoolctl
from sklearn.cluster import KMeans

from deepzip.core import init_centroids, kmeans_1d

SHAPE = (4096, 9216)  # AlexNet fc6
DENSITY = 0.09
CLUSTERS = 32
MAX_ITER = 300  # deepzip's and scikit-learn's default
TOL0_LIMIT_S = 180.0  # run scikit-learn with tol=0 only if it should finish within this
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "kmeans.json"


@dataclass
class Row:
    method: str
    init: str
    seconds: float
    n_iter: int
    converged: bool | None
    inertia: float
    empty_clusters: int
    runs_s: list[float]
    centroids: list[float]  # ascending
    inertia_vs_sklearn_pct: float = float("nan")
    speedup: float = float("nan")


def pruned_layer(seed: int) -> np.ndarray:
    """float32 (4096, 9216) normal weights with all but the 9% largest magnitudes set to zero."""
    weights = np.random.default_rng(seed).standard_normal(SHAPE, dtype=np.float32)
    magnitude = np.abs(weights).reshape(-1)
    keep = round(DENSITY * magnitude.size)
    cut = magnitude.size - keep
    threshold = np.partition(magnitude, cut)[cut]
    weights[np.abs(weights) < threshold] = 0.0
    return weights


def inertia(values: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> float:
    x = values.astype(np.float64)
    return float(np.sum((x - np.asarray(centroids, dtype=np.float64)[labels]) ** 2))


def deepzip_codebook(layer: np.ndarray, method: str, max_iter: int):
    """End to end from the dense layer: non-zeros, init, fit; labels are the non-zeros' codes."""
    values = layer[layer != 0]
    init = init_centroids(values, CLUSTERS, method)
    return values, kmeans_1d(values, init, max_iter=max_iter)


def time_deepzip(layer: np.ndarray, method: str, max_iter: int, repeats: int) -> Row:
    deepzip_codebook(layer, method, max_iter)  # warm-up: page faults, allocator, first calls
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        values, result = deepzip_codebook(layer, method, max_iter)
        runs.append(time.perf_counter() - start)
    return Row(
        method=f"deepzip kmeans_1d (max_iter={max_iter})",
        init=method,
        seconds=statistics.median(runs),
        n_iter=result.n_iter,
        converged=result.converged,
        inertia=inertia(values, result.centroids, result.labels),
        empty_clusters=CLUSTERS - np.unique(result.labels).size,
        runs_s=runs,
        centroids=np.sort(result.centroids).tolist(),
    )


def time_sklearn(values: np.ndarray, init: np.ndarray, method: str, tol: float) -> Row:
    model = KMeans(
        n_clusters=CLUSTERS,
        init=init.reshape(-1, 1),
        n_init=1,
        algorithm="lloyd",
        max_iter=MAX_ITER,
        tol=tol,
    )
    column = values.reshape(-1, 1)
    start = time.perf_counter()
    model.fit(column)
    seconds = time.perf_counter() - start
    centers = model.cluster_centers_.reshape(-1)
    return Row(
        method=f"sklearn KMeans lloyd (tol={tol:g}, {values.dtype})",
        init=method,
        seconds=seconds,
        n_iter=int(model.n_iter_),
        converged=None,
        inertia=inertia(values, centers, model.labels_),
        empty_clusters=CLUSTERS - np.unique(model.labels_).size,
        runs_s=[seconds],
        centroids=np.sort(centers.astype(np.float64)).tolist(),
    )


def compare(rows: list[Row], baseline: Row) -> None:
    for row in rows:
        row.inertia_vs_sklearn_pct = 100.0 * (row.inertia / baseline.inertia - 1.0)
        row.speedup = baseline.seconds / row.seconds


def print_table(title: str, rows: list[Row], baseline: str) -> None:
    print(f"\n{title}  (inertia % and speedup against: {baseline})")
    header = f"{'method':<42} {'init':<8} {'seconds':>8} {'iters':>6} {'conv':>5} "
    header += f"{'empty':>5} {'inertia':>12} {'vs sk %':>8} {'speedup':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        conv = "-" if r.converged is None else ("yes" if r.converged else "no")
        print(
            f"{r.method:<42} {r.init:<8} {r.seconds:8.3f} {r.n_iter:6d} {conv:>5} "
            f"{r.empty_clusters:5d} {r.inertia:12.3f} {r.inertia_vs_sklearn_pct:+8.3f} "
            f"{r.speedup:8.1f}"
        )


def run_tol0(values: np.ndarray, init: np.ndarray, method: str, default: Row, notes: list[str]):
    """scikit-learn with tol=0, if its per-iteration time says it ends within TOL0_LIMIT_S."""
    estimate = default.seconds / max(default.n_iter, 1) * MAX_ITER
    if estimate > TOL0_LIMIT_S:
        notes.append(
            f"sklearn tol=0 ({method}) skipped: estimated {estimate:.0f} s for "
            f"{MAX_ITER} iterations > {TOL0_LIMIT_S:.0f} s"
        )
        return None
    return time_sklearn(values, init, method, tol=0.0)


def centroid_gap(a: Row, b: Row) -> float:
    """Largest difference between the sorted codebooks of two rows."""
    return float(np.max(np.abs(np.subtract(a.centroids, b.centroids))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write figures")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random layer")
    parser.add_argument("--repeats", type=int, default=5, help="timed deepzip runs (median)")
    parser.add_argument("--no-control", action="store_true", help="skip the density control")
    args = parser.parse_args(argv)
    notes: list[str] = []

    start = time.perf_counter()
    layer = pruned_layer(args.seed)
    values = layer[layer != 0]
    print(
        f"layer {SHAPE[0]}x{SHAPE[1]} float32, {values.size} non-zeros "
        f"({values.size / layer.size:.2%}), min |w| {np.abs(values).min():.4f}, "
        f"k={CLUSTERS}, built in {time.perf_counter() - start:.1f} s"
    )
    pools = threadpoolctl.threadpool_info()
    pool_text = ", ".join(f"{p['internal_api']}:{p['num_threads']}" for p in pools)
    print(f"cpus {os.cpu_count()}, numpy {np.__version__}, sklearn {sklearn.__version__}")
    print(f"threadpools {pool_text}")

    # The target: linear init, same initial centroids for both.
    init = init_centroids(values, CLUSTERS, "linear")
    sk = time_sklearn(values, init, "linear", tol=1e-4)
    rows = [
        time_deepzip(layer, "linear", MAX_ITER, args.repeats),
        time_deepzip(layer, "linear", 10_000, max(1, args.repeats // 2)),
        sk,
    ]
    tol0 = run_tol0(values, init, "linear", sk, notes)
    if tol0 is not None:
        rows.append(tol0)
    compare(rows, sk)
    print_table("Target: linear init", rows, sk.method)

    deepzip_row = rows[0]
    speed_ok = deepzip_row.speedup >= 10.0
    inertia_ok = deepzip_row.inertia <= sk.inertia * 1.001
    verdict = (
        f"target {'MET' if speed_ok and inertia_ok else 'NOT MET'}: speedup "
        f"{deepzip_row.speedup:.1f}x ({'>=' if speed_ok else '<'} 10x), inertia "
        f"{deepzip_row.inertia_vs_sklearn_pct:+.3f}% ({'<=' if inertia_ok else '>'} +0.1%) "
        f"against {sk.method}"
    )
    print(verdict)
    vs_tol0 = None
    if tol0 is not None:
        vs_tol0 = {
            "sklearn": tol0.method,
            "speedup": tol0.seconds / deepzip_row.seconds,
            "inertia_vs_sklearn_pct": 100.0 * (deepzip_row.inertia / tol0.inertia - 1.0),
        }
        within = deepzip_row.inertia <= tol0.inertia * 1.001
        print(
            f"against {tol0.method}: speedup {vs_tol0['speedup']:.1f}x, inertia "
            f"{vs_tol0['inertia_vs_sklearn_pct']:+.3f}% ({'<=' if within else '>'} +0.1%)"
        )
        vs_tol0["inertia_met"] = bool(within)
        if not within:
            notes.append(
                f"deepzip's inertia is {vs_tol0['inertia_vs_sklearn_pct']:+.3f}% against "
                f"{tol0.method} after 300 iterations: scikit-learn computes float32 input in "
                "float32 (distances, sums, which values to relocate) and follows another "
                "trajectory to another local optimum; in float64 (the control) the two agree"
            )
    if deepzip_row.empty_clusters:
        notes.append(
            f"deepzip ends with {deepzip_row.empty_clusters} empty clusters, although it "
            "relocates empty clusters"
        )

    control: list[Row] = []
    control_checks: list[dict] = []
    if not args.no_control:
        wide = values.astype(np.float64)
        for method, repeats in (("linear", None), ("density", max(1, args.repeats // 2))):
            method_init = init_centroids(values, CLUSTERS, method)
            mine = (
                deepzip_row if repeats is None else time_deepzip(layer, method, MAX_ITER, repeats)
            )
            theirs = time_sklearn(wide, method_init, method, tol=0.0)
            pair = [replace(mine), theirs]
            compare(pair, theirs)
            print_table(f"Control: {method} init, same arithmetic (float64)", pair, theirs.method)
            check = {
                "init": method,
                "inertia_rel_diff": pair[0].inertia / theirs.inertia - 1.0,
                "max_centroid_diff": centroid_gap(pair[0], theirs),
                "same_iterations": pair[0].n_iter == theirs.n_iter,
            }
            print(
                f"same clustering check ({method}): inertia relative difference "
                f"{check['inertia_rel_diff']:+.2e}, largest centroid difference "
                f"{check['max_centroid_diff']:.2e}, iterations {pair[0].n_iter} vs {theirs.n_iter}"
            )
            control.extend(pair)
            control_checks.append(check)

    for note in notes:
        print(f"note: {note}")

    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
            "threadpools": [
                {k: p.get(k) for k in ("internal_api", "prefix", "num_threads", "version")}
                for p in pools
            ],
        },
        "layer": {
            "shape": list(SHAPE),
            "dtype": "float32",
            "seed": args.seed,
            "nonzeros": int(values.size),
            "density": values.size / layer.size,
        },
        "clusters": CLUSTERS,
        "target": {
            "speedup_min": 10.0,
            "inertia_max_pct": 0.1,
            "speedup": deepzip_row.speedup,
            "inertia_vs_sklearn_pct": deepzip_row.inertia_vs_sklearn_pct,
            "met": bool(speed_ok and inertia_ok),
            "speed_met": bool(speed_ok),
            "inertia_met": bool(inertia_ok),
            "baseline": sk.method,
            "vs_sklearn_tol0": vs_tol0,
        },
        "rows": [asdict(r) for r in rows],
        "control": [asdict(r) for r in control],
        "control_checks": control_checks,
        "notes": notes,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
