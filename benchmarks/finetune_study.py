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
from pathlib import Path

import numpy as np

import _work_dir  # benchmarks/_work_dir.py, beside this script
from deepzip.pipeline import build, load_checkpoint
from deepzip.share import round_values, share_weights
from deepzip.training import evaluate, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr-factors", default="0.01,0.001")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    config, checkpoint, data = _work_dir.load(args.work_dir, args.data)

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
    _work_dir.write_result(args.out, args.work_dir, quantized=start, rows=rows)


if __name__ == "__main__":
    main()
