"""What each way of making the file smaller is worth, on one pruned network.

    python benchmarks/encoding_ablation.py results/lenet-300-100.dzip.stages/paper \
        --data ../shared/data/mnist --out benchmarks/results/encoding_ablation-lenet-300-100.json

Takes the last pruning checkpoint of a ``deepzip reproduce`` (or ``compress``) work directory and
quantizes it again with the directory's own bit widths, adding one option at a time: float16
codebooks and biases, plain k-means that leaves empty clusters empty, hidden units sorted by
their kept weights, each layer's relative-index width chosen for the smallest record. Each row
writes a real .dzip file and measures its error with the engine (no fine-tuning, so the rows
differ only by the encoding). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import _work_dir  # benchmarks/_work_dir.py, beside this script
from deepzip.container import dzip_sizes, write_dzip
from deepzip.engine import Engine
from deepzip.network import to_compressed_model
from deepzip.pipeline import build, load_checkpoint
from deepzip.report.inspect import inspect_report
from deepzip.share import share_weights

ROWS = [
    ("k-means relocating empty clusters, float32 values, model order", {}),
    ("+ float16 codebooks and biases", {"value_bits": 16}),
    ("+ plain k-means (empty clusters stay empty)", {"value_bits": 16, "relocate_empty": False}),
    (
        "+ hidden units sorted by kept weights",
        {"value_bits": 16, "relocate_empty": False, "sort_units": True},
    ),
    (
        "+ each layer's index width chosen for the smallest record",
        {"value_bits": 16, "relocate_empty": False, "sort_units": True, "auto_index_bits": True},
    ),
]
BASE = {"value_bits": 32, "relocate_empty": True, "sort_units": False, "auto_index_bits": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    config, checkpoint, data = _work_dir.load(args.work_dir, args.data)
    stage = checkpoint.stem
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, options in ROWS:
            quantize = dataclasses.replace(config.quantize, **{**BASE, **options})
            model = build(config)
            load_checkpoint(checkpoint, model)
            share_weights(model, quantize, config.prune.layers)
            path = Path(tmp) / "model.dzip"
            compressed = to_compressed_model(model, quantize, data.test_x[:2])
            file_bytes = write_dzip(path, compressed)
            report = inspect_report(dzip_sizes(path))
            predicted = Engine.load(path).classify(data.test_x.numpy())
            error = float((predicted != data.test_y.numpy()).mean())
            rows.append(
                {
                    "row": label,
                    "options": {**BASE, **options},
                    "file_bytes": file_bytes,
                    "ratio": report.dense_bytes / file_bytes,
                    "error": error,
                    "parts": report.parts,
                }
            )
    first = rows[0]["file_bytes"]
    print(f"{args.work_dir} ({stage}), bits {dict(config.quantize.bits)}, no fine-tuning")
    print(f"{'encoding':<66} {'bytes':>8} {'ratio':>7} {'vs first':>8} {'error':>7}")
    for row in rows:
        print(
            f"{row['row']:<66} {row['file_bytes']:>8,} {row['ratio']:>6.1f}× "
            f"{row['file_bytes'] / first:>8.3f} {100 * row['error']:>6.2f}%"
        )
    _work_dir.write_result(args.out, args.work_dir, stage=stage, rows=rows)


if __name__ == "__main__":
    main()
