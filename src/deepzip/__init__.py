"""deepzip: Deep Compression and EIE-style inference for PyTorch models.

The public API is re-exported here and loaded on first use, so ``import deepzip`` stays fast
(no torch, numba or data loading until a name is touched).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CompressedLayer": "deepzip.compressed",
    "build_model": "deepzip.models",
    "lenet_300_100": "deepzip.models",
    "lenet_5": "deepzip.models",
    "TrainConfig": "deepzip.training",
    "TensorData": "deepzip.training",
    "train": "deepzip.training",
    "evaluate": "deepzip.training",
    "PruneConfig": "deepzip.prune",
    "PruningMask": "deepzip.prune",
    "attach_masks": "deepzip.prune",
    "iterative_prune": "deepzip.prune",
    "prune_step": "deepzip.prune",
    "remove_compression": "deepzip.prune",
    "weights_kept": "deepzip.prune",
    "sensitivity_analysis": "deepzip.prune",
    "choose_sparsities": "deepzip.prune",
    "QuantizeConfig": "deepzip.share",
    "SharedWeights": "deepzip.share",
    "share_weights": "deepzip.share",
    "compressed_layers": "deepzip.share",
    "DSDConfig": "deepzip.dsd",
    "dsd": "deepzip.dsd",
    "CompressConfig": "deepzip.pipeline",
    "run_pipeline": "deepzip.pipeline",
    "load_mnist_dir": "deepzip.data",
    "obtain_mnist": "deepzip.data",
    "kmeans_1d": "deepzip.core.kmeans",
    "Engine": "deepzip.engine",
    "read_dzip": "deepzip.container",
    "write_dzip": "deepzip.container",
    "to_compressed_model": "deepzip.network",
    "to_torch": "deepzip.network",
    "runnable_problems": "deepzip.network",
    "capture": "deepzip.capture",
    "fold_batchnorm": "deepzip.capture",
    "init_centroids": "deepzip.core.kmeans",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'deepzip' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
