"""IDX reader and writer: round trips, determinism, atomic writes, and every rejected file."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from deepzip.data import (
    IDX_DTYPES,
    DataError,
    IDXError,
    decode_idx,
    encode_idx,
    read_idx,
    write_idx,
)

DTYPES = [dtype.newbyteorder("=") for dtype in IDX_DTYPES.values()]
SHAPES = [(0,), (1,), (7,), (3, 0, 2), (5, 4, 3), (2, 1, 1, 3)]


def _random(dtype: np.dtype, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def _header(code: int, shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_round_trip(
    tmp_path: Path, dtype: np.dtype, shape: tuple[int, ...], compress: bool
) -> None:
    array = _random(dtype, shape)
    path = tmp_path / "a.idx"
    write_idx(path, array, gzip=compress)
    back = read_idx(path)
    assert back.dtype == dtype and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    assert decode_idx(encode_idx(array)).tobytes() == array.tobytes()


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    array = _random(np.dtype(np.int16), (4, 5))
    misleading_gz, misleading_raw = tmp_path / "raw.gz", tmp_path / "compressed.idx"
    write_idx(misleading_gz, array, gzip=False)
    write_idx(misleading_raw, array, gzip=True)
    np.testing.assert_array_equal(read_idx(misleading_gz), array)
    np.testing.assert_array_equal(read_idx(misleading_raw), array)


def test_big_endian_on_disk_and_non_contiguous_input(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.int32).reshape(3, 4).T  # Fortran order, native endian
    path = tmp_path / "a.idx"
    write_idx(path, array, gzip=False)
    assert (
        path.read_bytes()
        == _header(0x0C, (4, 3)) + np.ascontiguousarray(array).astype(">i4").tobytes()
    )
    np.testing.assert_array_equal(read_idx(path), array)
    big_endian = array.astype(">f8")
    write_idx(path, big_endian, gzip=False)
    np.testing.assert_array_equal(read_idx(path), big_endian)


def test_gzip_output_is_deterministic_and_names_no_file(tmp_path: Path) -> None:
    array = _random(np.dtype(np.uint8), (50, 28, 28))
    write_idx(tmp_path / "one.gz", array, gzip=True)
    write_idx(tmp_path / "two.gz", array, gzip=True)
    data = (tmp_path / "one.gz").read_bytes()
    assert data == (tmp_path / "two.gz").read_bytes()
    assert data[4:8] == b"\0\0\0\0"  # mtime 0
    assert data[3] & 0x08 == 0  # FNAME flag clear: no (temporary) file name inside
    assert gzip.decompress(data) == encode_idx(array)


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.idx.gz"
    old = np.arange(5, dtype=np.uint8)
    write_idx(path, old, gzip=True)
    before = path.read_bytes()

    def fail(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.arange(1000, dtype=np.uint8), gzip=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.idx.gz"]  # no temporary left


@pytest.mark.parametrize(
    ("array", "field"),
    [
        (np.zeros(3, dtype=np.int64), "dtype"),
        (np.zeros(3, dtype=bool), "dtype"),
        (np.zeros(3, dtype=np.uint16), "dtype"),
        (np.array(5, dtype=np.uint8), "number of dimensions"),
    ],
)
def test_write_rejects_arrays_idx_cannot_hold(
    tmp_path: Path, array: np.ndarray, field: str
) -> None:
    with pytest.raises(IDXError) as caught:
        write_idx(tmp_path / "a.idx", array, gzip=False)
    assert caught.value.field == field
    assert list(tmp_path.iterdir()) == []


def _write(path: Path, data: bytes, compress: bool) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


GOOD = _header(0x08, (2, 3)) + bytes(range(6))
BAD_FILES = {
    "empty": (b"", "header", "at least 4 bytes", "0 bytes"),
    "bad magic": (b"\x01\x00" + GOOD[2:], "magic", "0x00 0x00", "0x0100"),
    "unknown dtype code": (b"\x00\x00\x0a\x02" + GOOD[4:], "dtype code", "0x08", "0x0A"),
    "zero dimensions": (b"\x00\x00\x08\x00", "number of dimensions", "1..255", "0"),
    "truncated header": (GOOD[:9], "dimension sizes", "8 bytes for 2 dimensions", "5 bytes"),
    "truncated payload": (GOOD[:-1], "payload length", "6 bytes", "5 bytes"),
    "extra bytes": (GOOD + b"\x00\x00", "payload length", "6 bytes", "8 bytes"),
    "wrong item size": (_header(0x0B, (2, 3)) + bytes(6), "payload length", "12 bytes", "6 bytes"),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_rejects_malformed_files(tmp_path: Path, case: str, compress: bool) -> None:
    data, field, expected, actual = BAD_FILES[case]
    path = _write(tmp_path / "bad.idx", data, compress)
    with pytest.raises(IDXError) as caught:
        read_idx(path)
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, DataError)
    assert error.field == field
    message = str(error)
    for part in (str(path), field, expected, actual):
        assert part in message


def test_decode_rejects_the_same_way() -> None:
    with pytest.raises(IDXError, match=r"<bytes>: payload length: expected 6 bytes, got 8 bytes"):
        decode_idx(GOOD + b"\0\0")


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_hostile_huge_dimensions_raise_without_allocating(tmp_path: Path, compress: bool) -> None:
    claimed = (2**32 - 1, 2**32 - 1, 2**32 - 1)  # ~8e28 float64 items
    path = _write(tmp_path / "hostile.idx", _header(0x0E, claimed) + bytes(64), compress)
    tracemalloc.start()
    try:
        with pytest.raises(IDXError) as caught:
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.field == "payload length"
    assert "got 64 bytes" in str(caught.value)
    assert peak < 8 * 2**20


def test_damaged_gzip_stream(tmp_path: Path) -> None:
    data = gzip.compress(GOOD * 100, mtime=0)
    path = tmp_path / "damaged.idx.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IDXError) as caught:
        read_idx(path)
    assert caught.value.field == "gzip stream"
    corrupt = bytearray(data)
    corrupt[-6] ^= 0xFF  # the CRC32 in the trailer
    path.write_bytes(bytes(corrupt))
    with pytest.raises(IDXError, match="gzip stream"):
        read_idx(path)
