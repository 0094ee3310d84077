"""One rank of the DistributedDataParallel check in ``test_ddp.py`` (not a test module itself).

Run as ``python -m torch.distributed.run --standalone --nproc_per_node=2 tests/ddp_worker.py OUT``.
Every rank builds the same seeded LeNet-300-100, prunes it, retrains it under the plain DDP
wrapper, shares its weights by k-means, and fine-tunes the centroids under a new DDP wrapper (and
so a new optimizer). Each rank trains on its own random data, so only DDP's gradient all-reduce
keeps the ranks equal. The rank then writes its compression state to ``OUT/rank{r}.safetensors``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from deepzip.layers import select_layers
from deepzip.models import lenet_300_100
from deepzip.prune import PruneConfig, masks_of, prune_step
from deepzip.share import QuantizeConfig, get_shared, share_weights
from deepzip.training import TrainConfig, train

EXAMPLES = 256  # per rank; with batch 32 and 2 epochs, 16 steps per phase
CONFIG = TrainConfig(epochs=2, lr=0.05, batch_size=32, schedule="constant", seed=0)


def _rank_data(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images (N, 1, 28, 28) float32 and labels (N,) int64, different on every rank."""
    generator = torch.Generator().manual_seed(1000 + rank)
    x = torch.rand(EXAMPLES, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (EXAMPLES,), generator=generator)
    return x, y


def _retrain(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    # A fresh plain DDP wrapper, and through train() a fresh optimizer, over the current parameters.
    ddp = DistributedDataParallel(model)
    train(ddp, x, y, CONFIG)
    del ddp


def main(out_dir: Path) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = lenet_300_100()
    x, y = _rank_data(rank)
    state: dict[str, torch.Tensor] = {}

    # Phase 1: prune 90% of every layer at once, then retrain the surviving connections.
    prune_step(model, PruneConfig(sparsity=0.9, steps=1), step=1)
    for name, mask in masks_of(model).items():
        state[f"pruned_mask/{name}"] = mask.clone()
    _retrain(model, x, y)
    for name, module in select_layers(model).items():
        state[f"phase1_weight/{name}"] = module.weight.detach().clone()

    # Phase 2: share weights (4-bit codebooks), then fine-tune the centroids.
    share_weights(model, QuantizeConfig(fc_bits=4))
    for name, module in select_layers(model).items():
        shared = get_shared(module)
        assert shared is not None, name
        state[f"centroids_before/{name}"] = shared.centroids.detach().clone()
        state[f"codes_before/{name}"] = shared.codes.clone()
    _retrain(model, x, y)

    for name, module in select_layers(model).items():
        shared = get_shared(module)
        assert shared is not None, name
        state[f"mask/{name}"] = shared.mask.clone()
        state[f"codes/{name}"] = shared.codes.clone()
        state[f"centroids/{name}"] = shared.centroids.detach().clone()
        state[f"weight/{name}"] = module.weight.detach().clone()
        state[f"bias/{name}"] = module.bias.detach().clone()
    save_file({k: v.contiguous() for k, v in state.items()}, out_dir / f"rank{rank}.safetensors")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
