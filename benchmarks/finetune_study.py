"""Does fine-tuning the centroids help? Several shuffling seeds per learning rate, one network.

    python benchmarks/finetune_study.py results/lenet-300-100.dzip.stages/paper \
        --data ../shared/data/mnist --epochs 3 --lr-factors 0.01,0.001,0.0001 --seeds 5 \
        --out benchmarks/results/finetune_study-lenet-300-100.json

Quantizes a work directory's last pruning checkpoint with the directory's own settings, measures
the test and training error, then fine-tunes the centroids (and biases) from that same start with
each learning-rate factor and each seed of the batch order, and measures again. A single
fine-tuning run cannot tell an effect from the spread of the batch order; this can.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from deepzip.config import from_json
from deepzip.data import load_mnist_dir
from deepzip.pipeline import CompressConfig, build, load_checkpoint
from deepzip.share import round_values, share_weights
from deepzip.training import TensorData, evaluate, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr-factors", default="0.01,0.001")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    config = from_json(CompressConfig, (args.work_dir / "config.json").read_text())
    checkpoint = args.work_dir / f"prune-{config.prune.steps}.pt"
    if not checkpoint.exists():
        sys.exit(f"{checkpoint} is missing: run the pipeline first")
    mnist = load_mnist_dir(args.data)
    data = TensorData.from_arrays(
        mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels
    )

    def quantized():
        model = build(config)
        load_checkpoint(checkpoint, model)
        share_weights(model, config.quantize, config.prune.layers)
        return model

    def errors(model) -> dict[str, float]:
        return {
            "test": 1 - evaluate(model, data.test_x, data.test_y),
            "train": 1 - evaluate(model, data.train_x, data.train_y),
        }

    start = errors(quantized())
    print(
        f"{args.work_dir}: quantized, before fine-tuning: test {100 * start['test']:.2f}%, "
        f"train {100 * start['train']:.3f}%"
    )
    rows = []
    for factor in (float(f) for f in args.lr_factors.split(",")):
        runs = []
        for seed in range(args.seeds):
            model = quantized()
            cfg = dataclasses.replace(config.train.retraining(args.epochs, factor), seed=seed)
            train(model, data.train_x, data.train_y, cfg)
            round_values(model, config.quantize)
            runs.append({"seed": seed, **errors(model)})
        test = np.array([r["test"] for r in runs])
        train_error = np.array([r["train"] for r in runs])
        rows.append({"lr_factor": factor, "epochs": args.epochs, "runs": runs})
        print(
            f"lr factor {factor:g}, {args.epochs} epochs, {args.seeds} seeds: test "
            f"{100 * test.mean():.2f}% (min {100 * test.min():.2f}%, max {100 * test.max():.2f}%), "
            f"train {100 * train_error.mean():.3f}%"
        )
    result = {
        "command": " ".join(sys.argv),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "work_dir": str(args.work_dir),
        "quantized": start,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
