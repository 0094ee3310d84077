"""Fuzz the .dzip reader: mutated and truncated files may raise only FormatError.

Target (issues 4 and 10): at least 100,000 mutated and truncated files, and 100,000 files whose
network record is mutated structurally, raise only the format's own errors: no other exception,
no hang, no allocation beyond a small multiple of the file size.

Structural cases (``--structural N``) start from valid models whose networks use every op
(tests/graph/graph_examples.py) and mutate the network record as records
(tests/container/network_mutations.py): attributes at edge values (0, -1, huge, NaN, a wrong
word), dropped, duplicated and reordered nodes, inputs pointing forward (cycles) or past the end,
changed op codes, input shapes, layers and arities; file size and checksum are valid, so the
parser and the semantic checks must refuse the file. A file the reader still accepts is run in
torch (tests/graph/torch_reference.py): it must run, with the shapes the checks inferred
(``--no-torch`` skips this), unless an input's shape is unknown (a network converted from
version 1) a value would hold more than RUN_ELEMENTS elements (a valid network may need more memory
than the machine has) or an LSTM's sequence is longer than RUN_LSTM_STEPS; those are counted
apart.

Seeds are the golden files of tests/container/golden/ and a small two-layer model built here
(about 3 KB). Each fuzz file is a seed with 1-4 random mutations (bit flips, byte changes,
"interesting" values, insertions, deletions, duplicated or spliced chunks, truncation) and is read
in one of two modes, alternately:

- raw: as mutated; most are caught by the size or checksum checks;
- repaired: the header's file_size and the checksum are recomputed after mutating, so the parser
  itself must find the damage.

For every read the harness records the outcome (the exception class, or "decoded" for a file
that is still valid), the wall time, and the peak traced allocation (tracemalloc, which sees
numpy's buffers) above the baseline, relative to the file size (at least RATIO_FLOOR bytes).
Each file goes through read_dzip and dzip_sizes, which must agree on whether it is valid. A read
that takes longer than --timeout seconds kills its worker through faulthandler (a hang fails the
run). Any exception outside the FormatError family is printed with its traceback, the file is
saved under benchmarks/results/fuzz_failures/, and the run exits with status 1.

    python benchmarks/fuzz_container.py [--files N] [--structural N] [--workers N] [--seed N]
        [--timeout S] [--no-torch] [--json PATH]
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import math
import multiprocessing
import platform
import random
import sys
import time
import traceback
import tracemalloc
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.container import FormatError, dzip_bytes, dzip_sizes, read_dzip
from deepzip.container.layout import MIN_FILE_SIZE, seal
from deepzip.graph import chain

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "container"), str(ROOT / "tests" / "graph")]
GOLDEN = ROOT / "tests" / "container" / "golden"
RESULTS = ROOT / "benchmarks" / "results"
INTERESTING = [0, 1, 2, 7, 8, 15, 16, 0x3F, 0x40, 0x7F, 0x80, 0x81, 0xFE, 0xFF]
CHUNK = 500
RATIO_FLOOR = 1024
"""Files shorter than this are compared with this many bytes: below it the fixed cost of a read
(Python objects, a 4096-entry Huffman lookup table, the exception) dominates any ratio."""


def medium_model() -> CompressedModel:
    """A conv layer and a linear layer at LeNet-like densities, a network, one plain tensor."""
    rng = np.random.default_rng(0)

    def layer(name, kind, shape, density, bits, index_bits, metadata=None):
        size = int(np.prod(shape))
        mask = rng.random(size) < density
        codes = np.where(mask, rng.integers(1, 2**bits, size), 0).astype(np.uint8)
        codebook = np.concatenate([[0.0], rng.normal(0, 0.1, 2**bits - 1)]).astype(np.float32)
        bias = rng.normal(0, 0.1, shape[0]).astype(np.float32)
        return CompressedLayer(
            name,
            kind,
            codebook,
            codes.reshape(shape),
            mask.reshape(shape),
            bias,
            bits,
            index_bits,
            metadata or {},
        )

    conv_metadata = {"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1}
    layers = [
        layer("conv", "conv2d", (6, 1, 5, 5), 0.6, 4, 3, conv_metadata),
        layer("fc", "linear", (10, 600), 0.3, 5, 4),
    ]
    conv = {"stride": (1, 1), "pads": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
    pool = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "dilation": (1, 1),
            "ceil_mode": False}  # fmt: skip
    network = chain(
        [
            ("conv2d", "conv", conv),
            ("relu", None, {}),
            ("max_pool2d", None, pool),
            ("flatten", None, {"start_dim": 1, "end_dim": -1}),
            ("linear", "fc", {}),
            ("linear", "out", {}),
        ],
        (1, 24, 24),
    )
    tensors = {"out.weight": rng.normal(size=(2, 10)).astype(np.float32)}
    return CompressedModel(layers, network, tensors)


def seed_files() -> list[bytes]:
    return [p.read_bytes() for p in sorted(GOLDEN.glob("*.dzip"))] + [dzip_bytes(medium_model())]


def mutate(data: bytes, seeds: list[bytes], rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(
            [
                "flip",
                "flip",
                "byte",
                "interesting",
                "insert",
                "delete",
                "duplicate",
                "splice",
                "truncate",
            ]
        )
        at = rng.randrange(max(len(out), 1))
        if kind == "flip" and out:
            out[at] ^= 1 << rng.randrange(8)
        elif kind == "byte" and out:
            out[at] = rng.randrange(256)
        elif kind == "interesting" and out:
            out[at] = rng.choice(INTERESTING)
        elif kind == "insert":
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == "delete":
            del out[at : at + rng.randint(1, 16)]
        elif kind == "duplicate":
            out[at:at] = out[at : at + rng.randint(1, 32)]
        elif kind == "splice":
            other = rng.choice(seeds)
            start = rng.randrange(len(other))
            out[at : at + rng.randint(0, 16)] = other[start : start + rng.randint(1, 32)]
        else:
            del out[rng.randrange(len(out) + 1) :]
    return bytes(out)


def read_one(data: bytes) -> str:
    """The outcome of read_dzip; dzip_sizes must agree on whether the file is valid."""
    outcomes = []
    for reader in (read_dzip, dzip_sizes):
        try:
            reader(data)
            outcomes.append("decoded")
        except FormatError as error:
            outcomes.append(type(error).__name__)
    if (outcomes[0] == "decoded") != (outcomes[1] == "decoded"):
        raise AssertionError(f"read_dzip: {outcomes[0]}, but dzip_sizes: {outcomes[1]}")
    return outcomes[0]


_POOL: list[CompressedModel] = []
RUN_ELEMENTS = 2**24
"""A file that reads is run in torch only if each of its values (batch 2) has at most this many
elements: a valid network may ask for more memory than this machine has."""
RUN_LSTM_STEPS = 10_000
"""Nor if an LSTM's sequence is longer than this: torch steps through it one by one, and a
mutated sequence length of millions takes longer than the per-file timeout."""
POOL_MODELS = 40


def structural_file(i: int, seed: int) -> bytes:
    """Structural case ``i``: a valid model's file with its network record mutated."""
    from network_mutations import model_pool, mutated_file

    if not _POOL:
        _POOL.extend(model_pool(POOL_MODELS, seed))
    rng = random.Random(seed * 1_000_003 + i)
    data, _ = mutated_file(rng.choice(_POOL), rng)
    return data


def structural_case(data: bytes, use_torch: bool) -> str:
    """The reader's outcome on a structural case (a file that still reads must run in torch
    with the inferred shapes, else ``AssertionError``)."""
    outcome = read_one(data)
    if outcome == "decoded" and use_torch:
        from torch_reference import run_graph

        from deepzip.graph.shapes import check_graph

        model = read_dzip(data)
        if model.network is not None:
            inferred = check_graph(model.network, model.parameter_shape)
            if any(i.shape is None for i in model.network.inputs):
                return "decoded, not run: an input's shape is unknown"
            sizes = [math.prod(d or 2 for d in v.shape) for v in inferred.values() if v]
            if max(sizes, default=0) > RUN_ELEMENTS:
                return "decoded, not run: a value is too large to run here"
            lstm_inputs = [inferred[n.inputs[0]] for n in model.network.nodes if n.op == "lstm"]
            steps = [max(d or 0 for d in v.shape[:2]) for v in lstm_inputs if v is not None]
            if max(steps, default=0) > RUN_LSTM_STEPS:
                return "decoded, not run: an LSTM sequence is too long to run here"
            for name, value in run_graph(model.network, model, batch=2).items():
                if inferred[name] is not None:
                    want = tuple(2 if d is None else d for d in inferred[name].shape)
                    if tuple(value.shape) != want:
                        raise AssertionError(f"{name}: torch {tuple(value.shape)}, checks {want}")
    return outcome


def run_chunk(args: tuple[int, int, int, float, str, bool]) -> dict:
    """Fuzz files ``first .. first + count - 1``; file i is mutated by Random((seed, i)).
    ``kind`` is "bytes" (raw and repaired byte mutations, alternately) or "structural"."""
    first, count, seed, timeout, kind, use_torch = args
    seeds = seed_files()
    for data in seeds:  # load the numba kernels before measuring memory
        read_one(data)
    tracemalloc.start()
    if kind == "structural":
        structural_file(0, seed)  # build the model pool before measuring
        if use_torch:
            import torch_reference  # noqa: F401  (import torch before the per-case timer)
    outcomes = {"raw": Counter(), "repaired": Counter(), "structural": Counter()}
    worst_ratio = (0.0, 0, 0, "", "")
    max_peak = max_time = 0.0
    times = []
    failures = []
    for i in range(first, first + count):
        data = b""
        if kind == "bytes":
            rng = random.Random(seed * 1_000_003 + i)
            data = mutate(rng.choice(seeds), seeds, rng)
            mode = "repaired" if i % 2 else "raw"
            if mode == "repaired" and len(data) >= MIN_FILE_SIZE:
                data = seal(data[:-8])
        else:
            mode = "structural"
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        faulthandler.dump_traceback_later(timeout, exit=True)
        start = time.perf_counter()
        try:
            if kind == "bytes":
                outcome = read_one(data)
            else:
                data = structural_file(i, seed)
                outcome = structural_case(data, use_torch)
        except Exception:  # the point of the harness: anything else is a bug
            outcome = "FAILURE"
            failures.append((i, mode, data.hex(), traceback.format_exc()))
        elapsed = time.perf_counter() - start
        faulthandler.cancel_dump_traceback_later()
        peak = tracemalloc.get_traced_memory()[1] - baseline
        outcomes[mode][outcome] += 1
        times.append(elapsed)
        max_time, max_peak = max(max_time, elapsed), max(max_peak, peak)
        ratio = peak / max(len(data), RATIO_FLOOR)
        if ratio > worst_ratio[0]:
            worst_ratio = (ratio, peak, len(data), outcome, mode)
    tracemalloc.stop()
    return {
        "outcomes": {mode: dict(c) for mode, c in outcomes.items()},
        "worst_ratio": worst_ratio,
        "max_peak": max_peak,
        "max_time": max_time,
        "times": times,
        "failures": failures,
    }


def seed_baselines(seeds: list[bytes]) -> list[dict]:
    """Peak allocation of reading each valid seed: the ratio a correct file needs."""
    for data in seeds:
        read_one(data)
    rows = []
    tracemalloc.start()
    for data in seeds:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        read_one(data)
        peak = tracemalloc.get_traced_memory()[1] - baseline
        rows.append({"bytes": len(data), "peak": peak, "ratio": peak / len(data)})
    tracemalloc.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000, help="half raw, half repaired")
    parser.add_argument("--structural", type=int, default=100_000, help="mutated network records")
    parser.add_argument("--no-torch", action="store_true", help="skip running accepted files")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per read")
    parser.add_argument("--json", type=Path, default=RESULTS / "fuzz_container.json")
    args = parser.parse_args(argv)

    seeds = seed_files()
    baselines = seed_baselines(seeds)
    use_torch = not args.no_torch
    jobs = [
        (first, min(CHUNK, total - first), args.seed, args.timeout, kind, use_torch)
        for kind, total in (("structural", args.structural), ("bytes", args.files))
        for first in range(0, total, CHUNK)
    ]
    start = time.perf_counter()
    outcomes = {"raw": Counter(), "repaired": Counter(), "structural": Counter()}
    worst, max_peak, max_time, times, failures = (0.0, 0, 0, "", ""), 0.0, 0.0, [], []
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for result in pool.imap_unordered(run_chunk, jobs):
            for mode, counts in result["outcomes"].items():
                outcomes[mode].update(counts)
            worst = max(worst, tuple(result["worst_ratio"]))
            max_peak, max_time = (
                max(max_peak, result["max_peak"]),
                max(max_time, result["max_time"]),
            )
            times += result["times"]
            failures += result["failures"]
    wall = time.perf_counter() - start

    classes = sorted({name for c in outcomes.values() for name in c})
    modes = list(outcomes)
    print(f"{'outcome':<26}" + "".join(f"{mode:>12}" for mode in modes))
    for name in classes:
        print(f"{name:<26}" + "".join(f"{outcomes[mode][name]:>12}" for mode in modes))
    total = sum(sum(c.values()) for c in outcomes.values())
    print(
        f"{'files':<26}"
        + "".join(f"{sum(outcomes[mode].values()):>12}" for mode in modes)
        + f"   total {total} in {wall:.0f} s"
    )
    p99 = float(np.percentile(times, 99))
    print(
        f"time per read: max {1e3 * max_time:.1f} ms, p99 {1e3 * p99:.2f} ms, "
        f"mean {1e3 * float(np.mean(times)):.2f} ms (timeout {args.timeout:.0f} s)"
    )
    print(
        f"peak allocation per read: max {max_peak / 1024:.0f} KiB; max ratio to the file size "
        f"(at least {RATIO_FLOOR} B) {worst[0]:.1f}x: {worst[1] / 1024:.0f} KiB for a "
        f"{worst[2]}-byte file, {worst[3]}, {worst[4]}"
    )
    for row in baselines:
        print(
            f"valid seed of {row['bytes']} bytes: peak {row['peak'] / 1024:.0f} KiB, "
            f"{row['ratio']:.1f}x its size"
        )
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "files": total,
        "structural_files": sum(outcomes["structural"].values()),
        "torch_checked_accepted_files": use_torch,
        "timeout_s": args.timeout,
        "workers": args.workers,
        "seed": args.seed,
        "wall_s": wall,
        "seed_files_bytes": [len(s) for s in seeds],
        "outcomes": {mode: dict(sorted(c.items())) for mode, c in outcomes.items()},
        "non_format_errors": len(failures),
        "max_read_s": max_time,
        "p99_read_s": p99,
        "mean_read_s": float(np.mean(times)),
        "max_peak_bytes": max_peak,
        "max_peak_ratio": worst[0],
        "ratio_floor_bytes": RATIO_FLOOR,
        "max_peak_ratio_case": {
            "peak": worst[1],
            "file_bytes": worst[2],
            "outcome": worst[3],
            "mode": worst[4],
        },
        "valid_seed_peaks": baselines,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    if failures:
        saved = RESULTS / "fuzz_failures"
        saved.mkdir(parents=True, exist_ok=True)
        for i, mode, hex_data, trace in failures[:20]:
            (saved / f"case_{i}_{mode}.dzip").write_bytes(bytes.fromhex(hex_data))
            print(f"\nNON-FORMAT ERROR on file {i} ({mode}):\n{trace}", file=sys.stderr)
        print(f"FAILED: {len(failures)} reads raised outside FormatError", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
