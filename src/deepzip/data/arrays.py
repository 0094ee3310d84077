"""A user's own data set as arrays in one file: ``.npz`` or ``.safetensors`` holding
``x_train``, ``y_train``, ``x_test`` and ``y_test`` (the test pair alone is enough to run a
model). Inputs are taken as they are (uint8 images are scaled to [0, 1] by the consumer, as for
MNIST); labels are integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepzip.data.idx import DataError

SPLITS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True, eq=False)
class ArraySplits:
    x_train: np.ndarray | None
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    source: str


def load_array_file(path: str | Path, need_train: bool = True) -> ArraySplits:
    """Read the splits from ``path``; missing or mismatched arrays are a ``DataError`` that
    names the file and the array."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
        elif path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            arrays = load_file(str(path))
        else:
            raise DataError(f"{path}: give a folder of IDX files, a .npz or a .safetensors file")
    except DataError:
        raise
    except Exception as exc:  # numpy and safetensors raise several types for foreign files
        raise DataError(f"{path}: cannot read it as {path.suffix[1:]} arrays ({exc})") from exc
    needed = SPLITS if need_train else ("x_test",)
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise DataError(
            f"{path}: no array named {', '.join(missing)} (it has {', '.join(sorted(arrays))})"
        )
    for x, y in (("x_train", "y_train"), ("x_test", "y_test")):
        if x in arrays and y in arrays and len(arrays[x]) != len(arrays[y]):
            raise DataError(f"{path}: {len(arrays[x])} {x} but {len(arrays[y])} {y}")
        if y in arrays and not np.issubdtype(arrays[y].dtype, np.integer):
            raise DataError(f"{path}: {y} must hold integer labels, got {arrays[y].dtype}")
    return ArraySplits(
        arrays.get("x_train"),
        arrays.get("y_train"),
        arrays["x_test"],
        arrays.get("y_test"),
        str(path),
    )


__all__ = ["SPLITS", "ArraySplits", "load_array_file"]
