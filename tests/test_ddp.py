"""DistributedDataParallel works with compression state kept as parametrizations.

Two CPU processes (gloo) under torchrun retrain a pruned, then weight-shared, LeNet-300-100 on
different data per rank (``ddp_worker.py``); the ranks must end with identical masks, codes,
centroids and weights, the centroids must have moved, and pruned weights must still be zero.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

WORKER = Path(__file__).with_name("ddp_worker.py")


def _run_worker(out_dir: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(out_dir),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"torchrun exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def _layers(state: dict[str, torch.Tensor], prefix: str) -> list[str]:
    return sorted(key.removeprefix(prefix) for key in state if key.startswith(prefix))


def test_ddp_retrains_pruned_and_shared_model_identically_on_both_ranks(tmp_path: Path) -> None:
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    _run_worker(tmp_path)
    rank0 = load_file(tmp_path / "rank0.safetensors")
    rank1 = load_file(tmp_path / "rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    layers = _layers(rank0, "mask/")
    assert layers == ["fc1", "fc2", "fc3"]
    assert _layers(rank0, "pruned_mask/") == layers

    # Both ranks hold exactly the same state; DDP averages gradients, so steps are identical.
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"{key} differs between ranks"

    for name in layers:
        mask = rank0[f"mask/{name}"]
        # Masks only come from pruning: unchanged by retraining and by weight sharing.
        assert mask.dtype == torch.bool
        assert torch.equal(mask, rank0[f"pruned_mask/{name}"]), name
        assert 0.05 < mask.float().mean() < 0.15, name  # 90% pruned
        # Codes are buffers: training leaves them alone.
        assert torch.equal(rank0[f"codes/{name}"], rank0[f"codes_before/{name}"]), name
        # Training did something: the codebook moved (on both ranks alike, checked above).
        assert not torch.equal(rank0[f"centroids/{name}"], rank0[f"centroids_before/{name}"]), name
        # Pruned weights are exactly zero after both phases; kept ones are their centroid.
        for key in (f"phase1_weight/{name}", f"weight/{name}"):
            weight = rank0[key]
            assert torch.count_nonzero(weight[~mask]) == 0, key
        centroids, codes = rank0[f"centroids/{name}"], rank0[f"codes/{name}"].long()
        assert torch.equal(rank0[f"weight/{name}"][mask], centroids[codes][mask]), name
