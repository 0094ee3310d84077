"""Mutated and truncated files raise only FormatError: never another exception.

Each file is read twice: as mutated (mostly caught by the size or checksum checks) and with its
file size and checksum repaired, so that the parser itself has to find the damage. The long run,
100,000+ files with memory and time figures, is benchmarks/fuzz_container.py.
"""

from dzip_examples import GOLDEN, GOLDEN_MODELS, GOLDEN_V1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepzip.container import FormatError, dzip_sizes, read_dzip
from deepzip.container.layout import MIN_FILE_SIZE, seal

SEEDS = [(GOLDEN / name).read_bytes() for name in [*GOLDEN_V1, *GOLDEN_MODELS]]


@st.composite
def mutated_files(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[at] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255))]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


def repaired(data: bytes) -> bytes:
    return seal(data[:-8]) if len(data) >= MIN_FILE_SIZE else data


def read_or_format_error(data: bytes) -> None:
    for reader in (read_dzip, dzip_sizes):
        try:
            reader(data)
        except FormatError:
            pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_mutated_files_raise_only_format_errors(data):
    read_or_format_error(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_mutated_files_with_a_valid_checksum_raise_only_format_errors(data):
    read_or_format_error(repaired(data))
