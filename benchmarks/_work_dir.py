"""Shared by the benchmarks that start from a pipeline work directory's last pruning checkpoint."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from deepzip.config import from_json
from deepzip.data import load_mnist_dir
from deepzip.pipeline import CompressConfig
from deepzip.training import TensorData


def load(work_dir: Path, data_dir: Path) -> tuple[CompressConfig, Path, TensorData]:
    """The directory's config, its last pruning checkpoint and the MNIST data; exits with a
    message when the checkpoint is missing."""
    config = from_json(CompressConfig, (work_dir / "config.json").read_text())
    checkpoint = work_dir / f"prune-{config.prune.steps}.pt"
    if not checkpoint.exists():
        sys.exit(f"{checkpoint} is missing: run the pipeline first")
    mnist = load_mnist_dir(data_dir)
    data = TensorData.from_arrays(
        mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels
    )
    return config, checkpoint, data


def write_result(out: Path, work_dir: Path, **figures: Any) -> None:
    """The JSON every benchmark writes: the command, the machine, the date, then its figures."""
    result = {
        "command": " ".join(sys.argv),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "work_dir": str(work_dir),
        **figures,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
