"""Write a folder of MNIST-format IDX files (MNIST, Fashion-MNIST, ...) as one ``.npz`` file with
``x_train``, ``y_train``, ``x_test``, ``y_test``: the form in which ``deepzip compress --data`` and
``deepzip run --data`` take a user's own arrays.

    python examples/own_model/to_npz.py /usr/share/datasets/fashion-mnist fashion.npz
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from deepzip.data.mnist import load_mnist_dir


def main(folder: str, out: str) -> None:
    data = load_mnist_dir(folder)
    arrays = {"x_train": data.train_images, "y_train": data.train_labels,
              "x_test": data.test_images, "y_test": data.test_labels}  # fmt: skip
    # written beside the target and renamed over it: never a half-written file
    handle, temporary = tempfile.mkstemp(dir=Path(out).resolve().parent, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, out)
    except BaseException:
        os.unlink(temporary)
        raise
    print(f"{out}: {len(data.train_labels):,} training and {len(data.test_labels):,} test images")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python to_npz.py IDX_FOLDER OUT.npz")
    main(sys.argv[1], sys.argv[2])
