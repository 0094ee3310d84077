"""Canonical Huffman coding (Deep Compression §4) against other entropy coders, in one run.

The stream is the issue's: 1M symbols floor(8 + 2.5 z) clipped to 0..15, z standard normal
(seeded). Rows: the empirical entropy; deepzip's canonical Huffman coder (numba, one core);
dahuffman (pure Python); constriction's Huffman (symbol by symbol from Python), ANS (stack) and
range coder (queue) with a categorical model; zstandard at levels 3 and 19 on the uint8 symbol
bytes.

Bits per symbol count the compressed bytes as the coder hands them back (padding included). Side
information is listed apart: deepzip's code table is one byte of code length per symbol of the
alphabet; dahuffman's and constriction's tables or models are not counted (they are built from
the same frequencies); zstandard's output is self-contained. Timings cover the coder call only
(tables and models are built beforehand, outside the clock) and are the median of several runs
after one warm-up run (which also compiles the numba kernels).

Usage: python benchmarks/huffman_bench.py [--json PATH] [--symbols N] [--repeats R]
Needs numpy, numba and deepzip; the comparison libraries are optional (a missing one gives a row
that says so). They are kept out of deepzip's own environment; see the repository README.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one core, before numba is imported

import argparse
import importlib.metadata
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from deepzip.core.huffman import (
    DEFAULT_MAX_LENGTH,
    code_lengths,
    entropy_bits,
    huffman_decode,
    huffman_encode,
)

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "huffman.json"


def issue_symbols(n: int, seed: int) -> np.ndarray:
    """floor(8 + 2.5 z) clipped to 0..15, z standard normal: uint8 ``(n,)``."""
    z = np.random.default_rng(seed).standard_normal(n)
    return np.clip(np.floor(8 + 2.5 * z), 0, 15).astype(np.uint8)


def median_seconds(fn: Callable[[], object], repeats: int, warm_up: bool = True) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after one untimed run."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(name, n, n_bytes, encode_s, decode_s, ok, side="", note=""):
    return {
        "coder": name,
        "bits_per_symbol": None if n_bytes is None else 8 * n_bytes / n,
        "encode_msym_s": None if encode_s is None else n / encode_s / 1e6,
        "decode_msym_s": None if decode_s is None else n / decode_s / 1e6,
        "round_trip": ok,
        "side_info": side,
        "note": note,
    }


def bench_deepzip(symbols, frequencies, repeats):
    n = symbols.size
    lengths = code_lengths(frequencies, DEFAULT_MAX_LENGTH)
    payload, n_bits = huffman_encode(symbols, lengths)
    enc = median_seconds(lambda: huffman_encode(symbols, lengths), repeats)
    dec = median_seconds(lambda: huffman_decode(payload, n, lengths, n_bits), repeats)
    ok = bool(np.array_equal(huffman_decode(payload, n, lengths, n_bits), symbols))
    side = f"{lengths.size} B code lengths ({8 * lengths.size / n:.6f} bit/sym)"
    note = f"max code length {DEFAULT_MAX_LENGTH}, longest used {int(lengths.max())}"
    return row("deepzip canonical Huffman", n, payload.size, enc, dec, ok, side, note)


def bench_dahuffman(symbols, frequencies, repeats):
    import dahuffman

    n = symbols.size
    data = symbols.tolist()
    codec = dahuffman.HuffmanCodec.from_frequencies(
        {s: int(f) for s, f in enumerate(frequencies) if f}
    )
    encoded = codec.encode(data)
    enc = median_seconds(lambda: codec.encode(data), repeats, warm_up=False)
    dec = median_seconds(lambda: codec.decode(encoded), repeats, warm_up=False)
    ok = codec.decode(encoded) == data
    return row("dahuffman", n, len(encoded), enc, dec, ok, "table not counted", "pure Python")


def bench_constriction_huffman(symbols, frequencies, repeats):
    import constriction

    huffman = constriction.symbol.huffman
    n = symbols.size
    probabilities = frequencies.astype(np.float64)
    encoder_tree = huffman.EncoderHuffmanTree(probabilities)
    decoder_tree = huffman.DecoderHuffmanTree(probabilities)
    data = symbols.tolist()

    def encode():
        encoder = constriction.symbol.QueueEncoder()
        for s in data:
            encoder.encode_symbol(s, encoder_tree)
        return encoder.get_compressed_and_bitrate()[0]

    def decode(compressed):
        decoder = constriction.symbol.QueueDecoder(compressed)
        return [decoder.decode_symbol(decoder_tree) for _ in range(n)]

    compressed = encode()
    enc = median_seconds(encode, repeats, warm_up=False)
    dec = median_seconds(lambda: decode(compressed), repeats, warm_up=False)
    ok = decode(compressed) == data
    note = "one Python call per symbol (no array API)"
    return row("constriction Huffman", n, compressed.nbytes, enc, dec, ok, "tree not counted", note)


def bench_constriction_stream(symbols, frequencies, repeats, kind):
    import constriction

    n = symbols.size
    model = constriction.stream.model.Categorical(
        (frequencies / frequencies.sum()).astype(np.float64), perfect=False
    )
    data = symbols.astype(np.int32)
    if kind == "ans":
        stack = constriction.stream.stack

        def encode():
            coder = stack.AnsCoder()
            coder.encode_reverse(data, model)
            return coder.get_compressed()

        def decode(compressed):
            return stack.AnsCoder(compressed).decode(model, n)

        name = "constriction ANS (stack)"
    else:
        queue = constriction.stream.queue

        def encode():
            encoder = queue.RangeEncoder()
            encoder.encode(data, model)
            return encoder.get_compressed()

        def decode(compressed):
            return queue.RangeDecoder(compressed).decode(model, n)

        name = "constriction range (queue)"
    compressed = encode()
    enc = median_seconds(encode, repeats)
    dec = median_seconds(lambda: decode(compressed), repeats)
    ok = bool(np.array_equal(decode(compressed), data))
    return row(name, n, compressed.nbytes, enc, dec, ok, "model not counted")


def bench_zstandard(symbols, repeats, level):
    import zstandard

    n = symbols.size
    raw = symbols.tobytes()
    compressor = zstandard.ZstdCompressor(level=level)
    decompressor = zstandard.ZstdDecompressor()
    compressed = compressor.compress(raw)
    enc = median_seconds(lambda: compressor.compress(raw), repeats)
    dec = median_seconds(lambda: decompressor.decompress(compressed), repeats)
    ok = decompressor.decompress(compressed) == raw
    return row(f"zstandard level {level}", n, len(compressed), enc, dec, ok, "self-contained")


def unavailable(name, error):
    return row(name, 1, None, None, None, None, note=f"unavailable: {error}")


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("numpy", "numba", "deepzip", "dahuffman", "constriction", "zstandard"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numba_num_threads": os.environ.get("NUMBA_NUM_THREADS"),
        "versions": versions,
    }


def format_table(rows: list[dict]) -> str:
    def fmt(value, spec):
        width = int(spec.split(".")[0])
        return f"{'-':>{width}}" if value is None else format(value, spec)

    lines = [
        f"{'coder':<28} {'bits/sym':>9} {'enc Msym/s':>11} {'dec Msym/s':>11} {'ok':>5}  notes",
    ]
    for r in rows:
        ok = "-" if r["round_trip"] is None else ("yes" if r["round_trip"] else "NO")
        notes = "; ".join(x for x in (r["side_info"], r["note"]) if x)
        line = (
            f"{r['coder']:<28} {fmt(r['bits_per_symbol'], '9.4f')} "
            f"{fmt(r['encode_msym_s'], '11.2f')} {fmt(r['decode_msym_s'], '11.2f')} {ok:>5}  "
            f"{notes}"
        )
        lines.append(line.rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument("--symbols", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9, help="timed runs of the fast coders")
    parser.add_argument("--slow-repeats", type=int, default=1, help="for the pure-Python coders")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    symbols = issue_symbols(args.symbols, args.seed)
    frequencies = np.bincount(symbols, minlength=16)
    n = symbols.size
    rows = [
        row("empirical entropy", n, entropy_bits(symbols) * n / 8, None, None, None),
        bench_deepzip(symbols, frequencies, args.repeats),
    ]
    benches = [
        ("dahuffman", lambda: bench_dahuffman(symbols, frequencies, args.slow_repeats)),
        (
            "constriction Huffman",
            lambda: bench_constriction_huffman(symbols, frequencies, args.slow_repeats),
        ),
        (
            "constriction ANS (stack)",
            lambda: bench_constriction_stream(symbols, frequencies, args.repeats, "ans"),
        ),
        (
            "constriction range (queue)",
            lambda: bench_constriction_stream(symbols, frequencies, args.repeats, "range"),
        ),
        ("zstandard level 3", lambda: bench_zstandard(symbols, args.repeats, 3)),
        ("zstandard level 19", lambda: bench_zstandard(symbols, args.repeats, 19)),
    ]
    for name, bench in benches:
        try:
            rows.append(bench())
        except ImportError as error:
            rows.append(unavailable(name, error))

    table = format_table(rows)
    print(f"{n} symbols floor(8 + 2.5 z) clipped to 0..15, seed {args.seed}")
    print(table)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "stream": {
            "symbols": n,
            "distribution": "floor(8 + 2.5 z) clipped to 0..15",
            "seed": args.seed,
        },
        "machine": machine_info(),
        "targets": {"decode_msym_s": 200, "encode_msym_s": 100},
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
