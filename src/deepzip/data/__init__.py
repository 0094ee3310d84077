"""Real data sets for the experiments: IDX files, and MNIST / Fashion-MNIST built from them.

Nothing here loads or downloads at import time; `obtain_mnist` fetches a verified copy only when
called.
"""

from deepzip.data.arrays import ArraySplits, load_array_file
from deepzip.data.idx import (
    IDX_DTYPES,
    DataError,
    IDXError,
    decode_idx,
    encode_idx,
    read_idx,
    write_idx,
)
from deepzip.data.mnist import (
    FASHION_MNIST_DIR,
    FASHION_MNIST_SHA256,
    MNIST,
    MNIST_SHA256,
    MNIST_WHEEL,
    find_fashion_mnist,
    find_mnist,
    load_mnist_dir,
    mnist_cache_dir,
    obtain_mnist,
)

__all__ = [
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_SHA256",
    "IDX_DTYPES",
    "MNIST",
    "MNIST_SHA256",
    "MNIST_WHEEL",
    "ArraySplits",
    "DataError",
    "IDXError",
    "decode_idx",
    "encode_idx",
    "find_fashion_mnist",
    "find_mnist",
    "load_array_file",
    "load_mnist_dir",
    "mnist_cache_dir",
    "obtain_mnist",
    "read_idx",
    "write_idx",
]
