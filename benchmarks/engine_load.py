"""Benchmark: from a .dzip file to a ready engine, time and peak memory (issue 12, loading).

A VGG-16-shaped model (Simonyan & Zisserman: 13 conv layers and 3 fc layers, 138,344,128
weights) pruned to Deep Compression Table 5's per-layer densities (7.5% kept overall) at random
positions, with seeded synthetic codes: 5-bit codes for the conv layers and 4-bit codes for the fc
layers, 4-bit relative indices (fc layers are then EIE's one-byte packed entries, conv layers two
bytes per entry), and VGG-16's network (3x3 convolutions, ReLUs, 2x2 max pools, the fc layers).
It is written once with the library's writer; then fresh processes each go from the file to a
ready engine through the public entry point that ``deepzip run`` uses:

    engine = Engine.load(path, pes=pes)

and report the seconds that takes and the process's peak resident memory (``VmHWM``), also after
the imports alone. A separate fresh process reports the floor: the imports plus numba's first
cached kernel call (its CPU target's initialisation), which any load path through the numba
kernels pays. The first child fills numba's cache and is reported apart; the figures are the
median of the next ``--repeat``.

Target (issue 12): <= 1 s, and peak resident memory <= 1.5 x the engine's own bytes + 100 MB.

    python benchmarks/engine_load.py [--json PATH] [--repeat N] [--seed N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "engine_load.json"
TIME_TARGET_S = 1.0
MEMORY_FACTOR, MEMORY_EXTRA = 1.5, 100e6

# (name, weight shape, Deep Compression Table 5 weights kept)
VGG16 = [
    ("conv1_1", (64, 3, 3, 3), 0.58),
    ("conv1_2", (64, 64, 3, 3), 0.22),
    ("conv2_1", (128, 64, 3, 3), 0.34),
    ("conv2_2", (128, 128, 3, 3), 0.36),
    ("conv3_1", (256, 128, 3, 3), 0.53),
    ("conv3_2", (256, 256, 3, 3), 0.24),
    ("conv3_3", (256, 256, 3, 3), 0.42),
    ("conv4_1", (512, 256, 3, 3), 0.32),
    ("conv4_2", (512, 512, 3, 3), 0.27),
    ("conv4_3", (512, 512, 3, 3), 0.34),
    ("conv5_1", (512, 512, 3, 3), 0.35),
    ("conv5_2", (512, 512, 3, 3), 0.29),
    ("conv5_3", (512, 512, 3, 3), 0.36),
    ("fc6", (4096, 25088), 0.04),
    ("fc7", (4096, 4096), 0.04),
    ("fc8", (1000, 4096), 0.23),
]
CONV_BITS, FC_BITS, INDEX_BITS = 5, 4, 4


def vgg16_network():
    """VGG-16's network over the layers of ``VGG16``: a 224 x 224 RGB input, each conv 3x3 with
    padding 1 and a ReLU, a 2x2 max pool after each block, then fc6 and fc7 with ReLUs, fc8."""
    from deepzip.graph.ir import chain

    conv = {"stride": (1, 1), "pads": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
    pool = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "ceil_mode": False,
            "dilation": (1, 1)}  # fmt: skip
    ops = []
    for name, shape, _ in VGG16:
        if len(shape) == 4:
            ops += [("conv2d", name, conv), ("relu", None, {})]
            if name.endswith(("1_2", "2_2", "_3")):
                ops.append(("max_pool2d", None, pool))
        else:
            if name == "fc6":
                ops.append(("flatten", None, {"start_dim": 1, "end_dim": -1}))
            ops.append(("linear", name, {}))
            if name != "fc8":
                ops.append(("relu", None, {}))
    return chain(ops, (3, 224, 224))


def write_model(path: Path, seed: int) -> dict:
    """Write the synthetic VGG-16 to ``path``; return its sizes and the writer's time."""
    from deepzip.compressed import CompressedLayer, CompressedModel
    from deepzip.container import write_dzip

    rng = np.random.default_rng(seed)
    layers = []
    kept = weights = 0
    for name, shape, density in VGG16:
        conv = len(shape) == 4
        bits = CONV_BITS if conv else FC_BITS
        mask = rng.random(shape, dtype=np.float32) < density
        codes = np.zeros(shape, dtype=np.uint8)
        # Bell-shaped codes around the middle of the codebook, as trained layers have.
        n = int(mask.sum())
        drawn = np.rint(rng.normal(2 ** (bits - 1), 2 ** (bits - 3), n))
        codes[mask] = np.clip(drawn, 1, 2**bits - 1).astype(np.uint8)
        codebook = np.concatenate([[0.0], np.linspace(-0.1, 0.1, 2**bits - 1)]).astype(np.float32)
        bias = rng.normal(0, 0.01, shape[0]).astype(np.float32)
        kind = "conv2d" if conv else "linear"
        layers.append(CompressedLayer(name, kind, codebook, codes, mask, bias, bits, INDEX_BITS))
        kept += n
        weights += mask.size
        del mask, codes
    start = time.perf_counter()
    write_dzip(path, CompressedModel(layers, vgg16_network()))
    return {
        "weights": weights,
        "kept": kept,
        "density": kept / weights,
        "file_bytes": path.stat().st_size,
        "write_s": time.perf_counter() - start,
    }


def _peak_rss_bytes() -> int:
    """This process's peak resident memory: ``VmHWM`` (per address space, so a fresh process
    starts from nothing), else ``ru_maxrss``, which Linux carries over from the parent across
    ``execve``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(path: Path, pes: int) -> dict:
    """Run in a fresh process: file to a ready engine, with time and peak memory."""
    from deepzip.engine import Engine

    after_imports = _peak_rss_bytes()
    start = time.perf_counter()
    engine = Engine.load(path, pes=pes)
    seconds = time.perf_counter() - start
    peak = _peak_rss_bytes()
    parts = [part for parts in engine.layers.values() for part in parts]
    return {
        "seconds": seconds,
        "peak_rss_bytes": peak,
        "rss_after_imports_bytes": after_imports,
        "engine_bytes": sum(part.resident_bytes for part in parts),
        "engine_entries": sum(part.n_entries for part in parts),
    }


def floor() -> dict:
    """Run in a fresh process: the same imports and numba's first cached kernel call on a
    one-layer model, nothing of the benchmark's file: the peak memory any load pays."""
    from deepzip.compressed import CompressedLayer
    from deepzip.engine import Engine, EngineLayer

    assert Engine  # imported as the child imports it
    after_imports = _peak_rss_bytes()
    codes = np.array([[1, 0], [0, 1]], dtype=np.uint8)
    codebook = np.array([0.0, 1.0], dtype=np.float32)
    layer = CompressedLayer("one", "linear", codebook, codes, codes != 0, None, 4, 4)
    EngineLayer.from_compressed(layer, 1)
    return {"rss_after_imports_bytes": after_imports, "peak_rss_bytes": _peak_rss_bytes()}


def run_child(path: Path, pes: int, mode: str = "--child") -> dict:
    out = subprocess.run(
        [sys.executable, __file__, mode, str(path), "--threads", str(pes)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"NUMBA_NUM_THREADS": str(pes)},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="PEs of the engine layers")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.threads)))
        return 0
    if args.floor:
        print(json.dumps(floor()))
        return 0

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vgg16.dzip"
        model = write_model(path, args.seed)
        cold = run_child(path, args.threads)
        runs = [run_child(path, args.threads) for _ in range(args.repeat)]
        floor_run = run_child(path, args.threads, "--floor")
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    bound = MEMORY_FACTOR * median["engine_bytes"] + MEMORY_EXTRA
    result = {
        "benchmark": "engine_load",
        "command": " ".join(sys.argv),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": args.seed,
        "pes": args.threads,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "model": model | {"conv_code_bits": CONV_BITS, "fc_code_bits": FC_BITS},
        "first_child_fills_numba_cache": cold,
        "floor_imports_and_first_kernel": floor_run,
        "runs": runs,
        "median": median,
        "targets": {
            "seconds": {
                "target": TIME_TARGET_S,
                "value": median["seconds"],
                "met": median["seconds"] <= TIME_TARGET_S,
            },
            "peak_rss": {
                "bound_bytes": bound,
                "value_bytes": median["peak_rss_bytes"],
                "met": median["peak_rss_bytes"] <= bound,
            },
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    mb = 1e6
    print(
        f"VGG-16 synthetic: {model['weights']:,} weights, {model['kept']:,} kept "
        f"({model['density']:.1%}), file {model['file_bytes'] / mb:.1f} MB, written in "
        f"{model['write_s']:.1f} s"
    )
    print(
        f"Engine.load: {median['seconds']:.2f} s (first process, filling numba's cache, "
        f"{cold['seconds']:.2f} s)"
    )
    print(
        f"peak RSS {median['peak_rss_bytes'] / mb:.0f} MB (after imports "
        f"{median['rss_after_imports_bytes'] / mb:.0f} MB; floor, the imports and numba's first "
        f"cached kernel call, {floor_run['peak_rss_bytes'] / mb:.0f} MB); engine "
        f"{median['engine_bytes'] / mb:.1f} MB; bound 1.5 x engine + 100 MB = {bound / mb:.0f} MB"
    )
    for name, t in result["targets"].items():
        print(f"  {name}: {'MET' if t['met'] else 'NOT MET'}")
    print(f"load average before/after {load_before[0]:.2f}/{result['load_average_after'][0]:.2f}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
