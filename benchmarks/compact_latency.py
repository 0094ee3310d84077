"""Benchmark: batch-1 latency of the reproduced compact networks (issue 11's results table).

For every reproduction JSON given (``deepzip reproduce NET --json``), the network's .dzip file
(seed 0's, the path the JSON names) is run by deepzip's engine and the same network runs in
dense PyTorch: the model's own class with BatchNorm folded (the graph the engine runs) and the
file's decompressed weights (``deepzip.network.dense_state_dict``), in eval mode under
``torch.inference_mode``. Both get ``--threads`` threads (numba's and torch's), the same input
(one test-sized image of the network's input shape, a pool of different ones), warm-up calls
first, then alternating rounds (``engine_bench.time_interleaved``): the median per call is
reported, with the fastest. The outputs of the two are compared as a check (max difference
over the output's scale).

    python benchmarks/compact_latency.py results/mobilenet-v1.json ... [--json PATH]
        [--threads N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from deepzip.capture import fold_batchnorm
from deepzip.container import read_dzip
from deepzip.engine import Engine
from deepzip.models import CATALOGUE, build_model
from deepzip.network import dense_state_dict
from engine_bench import POOL, machine_info, set_threads, time_interleaved, write_json

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "compact_latency.json"


def measure(summary_path: Path, threads: int, seconds: float) -> dict:
    summary = json.loads(summary_path.read_text())
    name = summary["model"]
    point = summary["points"].get("search") or next(iter(summary["points"].values()))
    dzip = Path(point["runs"][0]["file"])
    if not dzip.is_absolute():
        dzip = summary_path.parent.parent / dzip  # paths in the JSON are from the repository root
    shape = CATALOGUE[name].input_shape
    rng = np.random.default_rng(0)
    inputs = rng.random((POOL, 1, *shape), dtype=np.float32)

    engine = Engine(read_dzip(dzip), pes=threads)
    model = build_model(name).eval()
    fold_batchnorm(model, (torch.from_numpy(inputs[0]),))
    model.load_state_dict(dense_state_dict(read_dzip(dzip)), strict=True)
    torch_inputs = [torch.from_numpy(x) for x in inputs]

    def run_torch(i: int) -> np.ndarray:
        with torch.inference_mode():
            return model(torch_inputs[i]).numpy()

    def run_engine(i: int) -> np.ndarray:
        return engine.run(inputs[i])

    expected, actual = run_torch(0), run_engine(0)
    difference = float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-12))
    medians, fastest = time_interleaved(
        {"engine": run_engine, "torch dense": run_torch}, rounds=10, budget_s=seconds
    )
    return {
        "model": name,
        "file": str(dzip),
        "input_shape": [1, *shape],
        "median_ms": {k: v * 1e3 for k, v in medians.items()},
        "fastest_ms": {k: v * 1e3 for k, v in fastest.items()},
        "speedup": medians["torch dense"] / medians["engine"],
        "output_difference": difference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("summaries", nargs="+", type=Path, help="reproduce --json outputs")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0, help="timing budget per network")
    args = parser.parse_args()
    rows = []
    with set_threads(args.threads):
        for path in args.summaries:
            row = measure(path, args.threads, args.seconds)
            rows.append(row)
            print(
                f"{row['model']:<14} engine {row['median_ms']['engine']:8.3f} ms   "
                f"torch dense {row['median_ms']['torch dense']:8.3f} ms   "
                f"engine {row['speedup']:5.2f}x   outputs differ by {row['output_difference']:.1e}",
                flush=True,
            )
        info = machine_info(args.threads)
    write_json(args.json, "compact_latency", args.threads, info, networks=rows)


if __name__ == "__main__":
    main()
