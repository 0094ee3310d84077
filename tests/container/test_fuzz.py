"""Mutated and truncated files raise only FormatError: never another exception.

Each file is read twice: as mutated (mostly caught by the size or checksum checks) and with its
file size and checksum repaired, so that the parser itself has to find the damage. The long run,
100,000+ files with memory and time figures, is benchmarks/fuzz_container.py. Structural
mutations of the network record (network_mutations.py) check the graph's semantic checks.
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


MODELS = None


def network_models():
    global MODELS
    if MODELS is None:
        from network_mutations import model_pool

        MODELS = model_pool(12, seed=0)
    return MODELS


def test_structural_mutations_of_the_network_raise_only_format_errors():
    """Valid graphs of every op with mutated network records (edge attributes, cycles, dropped
    and reordered nodes, changed codes and shapes): the reader refuses them with a FormatError,
    and every file it still accepts runs in torch with the shapes the checks inferred."""
    import random

    from network_mutations import mutated_file
    from torch_reference import run_graph

    from deepzip.graph.shapes import check_graph

    rng = random.Random(0)
    accepted = 0
    for _ in range(300):
        model = rng.choice(network_models())
        data, _ = mutated_file(model, rng)
        outcomes = []
        for reader in (read_dzip, dzip_sizes):
            try:
                outcomes.append(reader(data))
            except FormatError:
                outcomes.append(None)
        assert (outcomes[0] is None) == (outcomes[1] is None)
        back = outcomes[0]
        if back is None or back.network is None:
            continue
        accepted += 1
        inferred = check_graph(back.network, back.parameter_shape)
        for name, value in run_graph(back.network, back, batch=2).items():
            if inferred[name] is not None:
                want = tuple(2 if d is None else d for d in inferred[name].shape)
                assert tuple(value.shape) == want, name
    assert accepted > 0
