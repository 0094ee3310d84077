"""Benchmark: from a .dzip file to a ready engine, time and peak memory (issue 12, loading).

A VGG-16-shaped model (Simonyan & Zisserman: 13 conv layers and 3 fc layers, 138,344,128
weights) pruned to Deep Compression Table 5's per-layer densities (7.5% kept overall) at random
positions, with seeded synthetic codes: 5-bit codes for the conv layers and 4-bit codes for the fc
layers, 4-bit relative indices (fc layers are then EIE's one-byte packed entries, conv layers two
bytes per entry). It is written once with the library's writer; then fresh processes each go from
the file to a ready engine through the public API only:

    model = read_dzip(path); layers = [EngineLayer.from_compressed(l, pes) for l in model.layers]

and report the seconds from the start of ``read_dzip`` to the last layer built, split into reading
and layout building, and the process's peak resident memory (``VmHWM``), also after the imports
alone. The first child fills numba's cache and is reported apart; the
figures are the median of the next ``--repeat``.

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
    write_dzip(path, CompressedModel(layers))
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
    """Run in a fresh process: file to engine layers, with time and peak memory."""
    from deepzip.container import read_dzip
    from deepzip.engine import EngineLayer

    after_imports = _peak_rss_bytes()
    start = time.perf_counter()
    model = read_dzip(path)
    read = time.perf_counter()
    layers = [EngineLayer.from_compressed(layer, pes) for layer in model.layers]
    built = time.perf_counter()
    peak = _peak_rss_bytes()
    engine_bytes = sum(layer.resident_bytes for layer in layers)
    return {
        "seconds": built - start,
        "read_s": read - start,
        "build_s": built - read,
        "peak_rss_bytes": peak,
        "rss_after_imports_bytes": after_imports,
        "engine_bytes": engine_bytes,
        "engine_entries": sum(layer.n_entries for layer in layers),
    }


def run_child(path: Path, pes: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--threads", str(pes)],
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
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.threads)))
        return 0

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vgg16.dzip"
        model = write_model(path, args.seed)
        cold = run_child(path, args.threads)
        runs = [run_child(path, args.threads) for _ in range(args.repeat)]
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
        f"file -> engine: {median['seconds']:.2f} s (read {median['read_s']:.2f} s, layouts "
        f"{median['build_s']:.2f} s; first process {cold['seconds']:.2f} s)"
    )
    print(
        f"peak RSS {median['peak_rss_bytes'] / mb:.0f} MB (after imports "
        f"{median['rss_after_imports_bytes'] / mb:.0f} MB); engine "
        f"{median['engine_bytes'] / mb:.1f} MB; bound 1.5 x engine + 100 MB = {bound / mb:.0f} MB"
    )
    for name, t in result["targets"].items():
        print(f"  {name}: {'MET' if t['met'] else 'NOT MET'}")
    print(f"load average before/after {load_before[0]:.2f}/{result['load_average_after'][0]:.2f}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
