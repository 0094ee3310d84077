"""Structure-aware mutations of a .dzip file's network record, for the fuzz test and harness.

A valid model (``graph_examples.random_model``: graphs of every op, with their parameters) has its
network record turned into ``RawNode`` records, which are mutated the way a corrupt or hostile file
would differ from a good one: attributes set to edge values (0, -1, huge, NaN, a wrong word),
nodes dropped, duplicated or reordered, inputs pointed forward (a cycle) or past the end, op codes
changed, input shapes changed, layers renamed, arities changed. The file is re-encoded with a
valid size and checksum, so that the reader's parsing and semantic checks have to refuse it.
"""

from __future__ import annotations

import copy
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))

from dzip_examples import with_network
from graph_examples import random_model

from deepzip.compressed import CompressedModel
from deepzip.container.network import RawNetwork, RawNode, raw_network
from deepzip.graph import OPS

INTS = [0, -1, 1, 2, 3, 255, 1 << 31, 1 << 62, -(1 << 63), (1 << 63) - 1]
FLOATS = [0.0, -0.0, -1.0, 1e-30, 3.0e38, float("nan"), float("inf"), float("-inf")]
WORDS = ["", "none", "tanh", "nearest", "bilinear", "bicubic", "NONE", "é", "x" * 300]
CODES = [spec.code for spec in OPS.values()] + [10, 15, 31, 49, 62, 64, 200, 255]


def _edge_attr(node: RawNode, rng: random.Random) -> None:
    if not node.attrs:
        return
    k = rng.randrange(len(node.attrs))
    kind, value = node.attrs[k]
    if kind == "int":
        node.attrs[k] = (kind, rng.choice(INTS))
    elif kind == "ints":
        items = list(value)
        choice = rng.random()
        if choice < 0.2 or not items:
            items.append(rng.choice(INTS))
        elif choice < 0.4:
            items.pop(rng.randrange(len(items)))
        else:
            items[rng.randrange(len(items))] = rng.choice(INTS)
        node.attrs[k] = (kind, tuple(items))
    elif kind == "float":
        node.attrs[k] = (kind, rng.choice(FLOATS))
    elif kind == "floats":
        node.attrs[k] = (kind, tuple(rng.choice(FLOATS) for _ in range(rng.randint(0, 3))))
    elif kind == "bool":
        node.attrs[k] = ("int", rng.choice([1, 2, -1]))  # bytes 02, 04, 01: two are not 0/1
    else:
        node.attrs[k] = (kind, rng.choice(WORDS))


def _value_count(raw: RawNetwork, upto: int) -> int:
    return len(raw.inputs) + sum(node.n_outputs for node in raw.nodes[:upto])


def mutate_network(raw: RawNetwork, layers: list[str], rng: random.Random) -> str:
    """Apply one structural mutation to ``raw`` in place; return its name."""
    nodes = raw.nodes
    kind = rng.choice(["attr", "attr", "attr", "drop", "duplicate", "swap", "forward", "input",
                       "code", "shape", "layer", "arity", "outputs", "dtype"])  # fmt: skip
    i = rng.randrange(len(nodes)) if nodes else 0
    if kind == "attr" and nodes:
        _edge_attr(nodes[i], rng)
    elif kind == "drop" and nodes:
        del nodes[i]
    elif kind == "duplicate" and nodes:
        nodes.insert(rng.randrange(len(nodes) + 1), copy.deepcopy(nodes[i]))
    elif kind == "swap" and len(nodes) > 1:
        j = rng.randrange(len(nodes))
        nodes[i], nodes[j] = nodes[j], nodes[i]
    elif kind == "forward" and nodes and nodes[i].inputs:
        defined = _value_count(raw, i)
        k = rng.randrange(len(nodes[i].inputs))
        nodes[i].inputs[k] = defined + rng.choice([0, 1, 5, 1 << 20])
    elif kind == "input" and nodes and nodes[i].inputs:
        k = rng.randrange(len(nodes[i].inputs))
        nodes[i].inputs[k] = rng.randrange(_value_count(raw, i))
    elif kind == "code" and nodes:
        nodes[i].code = rng.choice(CODES)
    elif kind == "shape":
        j = rng.randrange(len(raw.inputs))
        dtype, shape = raw.inputs[j]
        choice = rng.random()
        if choice < 0.2 or shape is None:
            shape = tuple(rng.choice([0, 1, 2, 3, 7, 1 << 31]) for _ in range(rng.randint(0, 9)))
        elif choice < 0.3:
            shape = None
        elif shape:
            dims = list(shape)
            dims[rng.randrange(len(dims))] = rng.choice([0, 1, 2, 5, 64, 1 << 20])
            shape = tuple(dims)
        else:  # a scalar input (ndim 0) gets one dimension
            shape = (1,)
        raw.inputs[j] = (dtype, shape)
    elif kind == "layer" and nodes:
        nodes[i].layer = rng.choice([*layers, "", "missing", None, "x" * 2000])
    elif kind == "arity" and nodes:
        if rng.random() < 0.5 and nodes[i].inputs:
            nodes[i].inputs.pop()
        elif rng.random() < 0.5:
            nodes[i].inputs.append(rng.randrange(max(_value_count(raw, i), 1)))
        else:
            nodes[i].n_outputs = rng.choice([0, 1, 2, 3, 4, 65535])
    elif kind == "outputs":
        total = _value_count(raw, len(nodes))
        raw.outputs = [rng.randrange(total + 2) for _ in range(rng.randint(0, 3))]
    elif kind == "dtype":
        j = rng.randrange(len(raw.inputs))
        raw.inputs[j] = (rng.choice([0, 1, 2, 255]), raw.inputs[j][1])
    return kind


def model_pool(count: int, seed: int) -> list[CompressedModel]:
    """``count`` valid models with networks of many ops (the structural fuzzer's seeds)."""
    return [random_model(random.Random(seed * 7919 + k)) for k in range(count)]


def mutated_file(model: CompressedModel, rng: random.Random) -> tuple[bytes, list[str]]:
    """The model's file after 1-3 structural mutations of its network record."""
    raw = raw_network(model.network)
    layers = sorted({n.layer for n in model.network.nodes if n.layer is not None})
    names = [mutate_network(raw, layers, rng) for _ in range(rng.randint(1, 3))]
    try:
        return with_network(model, raw), names
    except (ValueError, OverflowError, TypeError, UnicodeEncodeError):
        # The encoder refuses what no file can hold (a negative position, a 2000-byte name):
        # mutate the bytes of the valid record instead.
        return with_network(model, raw_network(model.network)), ["unencodable"]
