"""A small compressed model made the way ``deepzip compress`` makes one, with its work directory.

The model is a tiny conv net (a conv2d and two linear layers) on 8x8 inputs: pruned in one round,
weight-shared, written as a .dzip file. The work directory holds the checkpoints the pipeline
writes (``baseline.pt``, ``prune-1.pt``, ``quantize.pt``, ``config.json``), written with the
pipeline's own ``save_checkpoint``, so the report reads what a real run leaves behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from deepzip.container import write_dzip
from deepzip.network import to_compressed_model
from deepzip.pipeline import StageResult, save_checkpoint
from deepzip.prune import PruneConfig, prune_step
from deepzip.share import QuantizeConfig, share_weights


@dataclass(frozen=True)
class SmallRun:
    dzip: Path
    work_dir: Path
    stages: list[StageResult]
    layers: list[str]


def small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 6 * 6, 48),
        nn.ReLU(),
        nn.Linear(48, 10),
    )


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> SmallRun:
    root = tmp_path_factory.mktemp("small-run")
    work = root / "small.dzip.stages"
    work.mkdir()
    torch.manual_seed(0)
    model = small_net()
    stages = [StageResult("baseline", 0.10, 1.0, 0.5)]
    save_checkpoint(work / "baseline.pt", model, "baseline", stages)
    prune_step(model, PruneConfig(sparsity=0.8, steps=1), 1)
    stages.append(StageResult("prune-1", 0.12, 0.2, 0.7))
    save_checkpoint(work / "prune-1.pt", model, "prune-1", stages)
    config = QuantizeConfig(conv_bits=4, fc_bits=4)
    share_weights(model, config)
    stages.append(StageResult("quantize", 0.125, 0.2, 0.1))
    save_checkpoint(work / "quantize.pt", model, "quantize", stages)
    (work / "config.json").write_text(json.dumps({"model": "small"}))
    path = root / "small.dzip"
    write_dzip(path, to_compressed_model(model, config))
    return SmallRun(path, work, stages, ["0", "3", "5"])
