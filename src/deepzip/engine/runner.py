"""The graph runner: a whole stored network run straight from its compressed layers (EIE).

``Engine`` walks a ``CompressedModel``'s network (a ``deepzip.graph.Graph``) node by node, on
batch-first values with torch's semantics:

- weight ops (``weights``, ``lstm``) run through the compressed layers' EIE layouts: sparse
  products that skip zero activations and touch only stored entries, weights decoded through the
  codebook, rows interleaved over processing elements; a plain (uncompressed) weight runs densely
  in numpy. A ReLU whose input is a linear / conv output read by nothing else is fused into that
  product's epilogue;
- every other op runs in numpy (``ops``); ``unsupported`` nodes are refused by name.

``run`` splits inputs larger than ``max_batch`` into passes when no op of the graph mixes samples
(an op that acts on dimension 0, or an ``lstm``, whose batch may be dimension 1).

``arithmetic="fixed16"`` runs EIE's 16-bit fixed point (see ``fixed_point``): int16 codebooks,
weights and activations, exact int64 sums, one rounding per layer output, for the ops of
``FIXED16_OPS``; any other op is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepzip.compressed import CompressedModel
from deepzip.engine import fixed_point as fx
from deepzip.engine import ops
from deepzip.engine.layout import EngineLayer, default_pes
from deepzip.engine.lstm import LSTMOp
from deepzip.engine.parameters import Parameters
from deepzip.engine.weights import ConvTranspose2dOp, EmbeddingOp, MatrixOp
from deepzip.graph import Graph, Node

ARITHMETICS = ("float32", "fixed16")

#: The ops EIE's 16-bit fixed point runs.
FIXED16_OPS = frozenset({"linear", "conv2d", "relu", "max_pool2d", "avg_pool2d", "flatten"})

_WEIGHT_OPS = {
    "linear": MatrixOp,
    "conv1d": MatrixOp,
    "conv2d": MatrixOp,
    "conv_transpose2d": ConvTranspose2dOp,
    "embedding": EmbeddingOp,
    "lstm": LSTMOp,
}

#: Weight ops whose kernel epilogue applies a following ReLU.
_FUSES_RELU = frozenset({"linear", "conv1d", "conv2d"})


@dataclass(frozen=True)
class LayerMemory:
    """Resident bytes of one engine layer against the issue's bound.

    ``bound_bytes`` = 1.25 x (entries x 1 byte + pointers + codebook), the issue's bound for
    packed layouts (4-bit codes and indices); a split layout stores more than a byte per entry.
    """

    name: str
    shape: tuple[int, int]
    pes: int
    packed: bool
    entries: int
    fillers: int
    resident_bytes: int
    bound_bytes: float

    @property
    def within_bound(self) -> bool:
        return self.resident_bytes <= self.bound_bytes


@dataclass
class _Step:
    """One node to run: ``run`` maps input arrays to output arrays (float32 arithmetic);
    ``weight`` is its weight op (for fixed point); ``outputs`` names its results (a fused ReLU's
    output in place of the weight op's); ``release`` the values nothing reads after it."""

    node: Node
    run: Callable[..., tuple[np.ndarray, ...]]
    weight: MatrixOp | None
    outputs: tuple[str, ...]
    release: tuple[str, ...] = ()


def _mixes_samples(node: Node) -> bool:
    """Whether ``node`` may combine or move samples (so the batch cannot be split)."""
    a = node.attrs
    if node.op == "lstm":
        return True
    if node.op == "mean":
        return not a["dims"] or 0 in a["dims"]
    if node.op == "permute":
        return a["dims"][0] != 0
    if node.op == "transpose":
        return 0 in (a["dim0"], a["dim1"])
    if node.op == "flatten":
        return a["start_dim"] == 0
    if node.op in ("cat", "select", "slice", "squeeze", "unsqueeze", "softmax"):
        return a["dim"] == 0
    return False


def _no_network_error() -> ValueError:
    return ValueError(
        "the model has no network: its file holds the compressed layers only, which happens when "
        "the model was not captured (torch.export failed or the file was written without one); "
        "it cannot be run"
    )


class Engine:
    """Run a compressed model's network from its compressed layers.

    Args:
        model: the CompressedModel (with a network graph), or an opened file
            (``deepzip.container.DzipFile``, as ``load`` passes) whose layers are decoded one
            at a time.
        pes: processing elements per layer (default: numba's thread count).
        arithmetic: ``"float32"`` (default) or ``"fixed16"``.
        max_batch: inputs processed per pass; ``run`` splits larger inputs when it can.
    """

    def __init__(
        self,
        model: CompressedModel,
        pes: int | None = None,
        arithmetic: str = "float32",
        max_batch: int = 1024,
    ) -> None:
        if model.network is None:
            raise _no_network_error()
        if arithmetic not in ARITHMETICS:
            raise ValueError(f"arithmetic must be one of {ARITHMETICS}, got {arithmetic!r}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        graph: Graph = model.network
        unsupported = graph.unsupported()
        if unsupported:
            names = ", ".join(node.describe() for node in unsupported)
            raise ValueError(f"the engine cannot run the network: unsupported op {names}")
        if arithmetic == "fixed16":
            for node in graph.nodes:
                if node.op not in FIXED16_OPS or _mixes_samples(node):
                    raise ValueError(
                        f"fixed16 arithmetic cannot run op {node.describe()}: it supports "
                        f"{sorted(FIXED16_OPS)} on per-sample dimensions (use float32)"
                    )
        self.model = model
        self.graph = graph
        self.pes = default_pes() if pes is None else int(pes)
        self.arithmetic = arithmetic
        self.max_batch = int(max_batch)
        self._params = Parameters(model, self.pes)
        self._steps = self._plan(graph)
        self._params.release()
        self._splittable = not any(_mixes_samples(node) for node in graph.nodes)
        # Per compressed layer: its EIE layouts, one per block (a convolution group).
        self.layers: dict[str, list[EngineLayer]] = self._params.layouts

    @classmethod
    def load(cls, path: str | Path, **kwargs) -> Engine:
        """An engine for the .dzip file at ``path`` (keyword arguments as for ``Engine``).

        The file is checked whole first (``deepzip.container.open_dzip``: header, checksum,
        records), then its layers are decoded one at a time, each turned into its layouts and
        dropped before the next: loading holds the file, the layouts and one layer's kept
        weights, never the whole ``CompressedModel``. ``engine.model`` is the opened file
        (``DzipFile``: ``network``, ``tensors``, ``to_model()``). A malformed file raises the
        reader's ``FormatError``s, for layers the network does not use too.
        """
        from deepzip.container import open_dzip

        source = open_dzip(path)
        try:
            engine = cls(source, **kwargs)
        except ValueError:
            for _ in source.layers():  # a malformed layer is reported first, as by read_dzip
                pass
            raise
        for name in source.layer_names:
            if name not in engine.layers:
                source.layer(name)  # checked like every layer, though the network skips it
        return engine

    # -- construction ---------------------------------------------------------------------------

    def _plan(self, graph: Graph) -> list[_Step]:
        consumers = graph.consumers()
        graph_outputs = set(graph.outputs)
        fused: set[int] = set()
        steps: list[_Step] = []
        for node in graph.nodes:
            if id(node) in fused:
                continue
            weight = None
            try:
                if node.op in _WEIGHT_OPS:
                    weight = _WEIGHT_OPS[node.op](node, self._params)
                    run = _as_tuple(weight.run)
                else:
                    run = ops.prepare(node, self._params)
            except (ValueError, KeyError) as error:
                raise ValueError(f"network op {node.describe()}: {error}") from None
            outputs = node.outputs
            users = consumers.get(node.outputs[0], [])
            if (
                node.op in _FUSES_RELU
                and node.outputs[0] not in graph_outputs
                and len(users) == 1
                and users[0].op == "relu"
            ):
                weight.relu = True
                fused.add(id(users[0]))
                outputs = users[0].outputs
            steps.append(
                _Step(node, run, weight if isinstance(weight, MatrixOp) else None, outputs)
            )
        last_use: dict[str, int] = {}
        for i, step in enumerate(steps):
            for value in step.node.inputs:
                last_use[value] = i
        for value, i in last_use.items():
            if value not in graph_outputs:
                steps[i].release += (value,)
        return steps

    # -- memory ---------------------------------------------------------------------------------

    def layer_bytes(self) -> list[LayerMemory]:
        """Resident bytes of every compressed layer's layout (one row per block)."""
        rows = []
        for parts in self.layers.values():
            for part in parts:
                memory = LayerMemory(
                    part.name, part.shape, part.pes, part.packed, part.n_entries,
                    part.n_fillers, part.resident_bytes, part.memory_bound_bytes,
                )  # fmt: skip
                rows.append(memory)
        return rows

    # -- running --------------------------------------------------------------------------------

    def run(self, *inputs: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        """The network's output for batch-first inputs (one per graph input, float32 or int64 as
        the graph says): an array, or a tuple when the graph has several outputs."""
        arrays = self._check_inputs(inputs)
        total = arrays[0].shape[0]
        if self._splittable and total > self.max_batch:
            if any(a.shape[0] != total for a in arrays):
                raise ValueError("the inputs have different batch sizes")
            chunks = [
                self._run_batch([a[i : i + self.max_batch] for a in arrays])
                for i in range(0, total, self.max_batch)
            ]
            results = [np.concatenate(parts) for parts in zip(*chunks)]
        else:
            results = self._run_batch(arrays)
        return results[0] if len(results) == 1 else tuple(results)

    def classify(self, x: np.ndarray, batch: int | None = None) -> np.ndarray:
        """Predicted classes (int64 ``(N,)``): the argmax of ``run``, ``batch`` inputs per call
        (as an application would feed them; default ``max_batch``)."""
        step = batch or self.max_batch
        if step < 1:
            raise ValueError(f"batch must be >= 1, got {step}")
        return np.concatenate(
            [self.run(x[i : i + step]).argmax(axis=1) for i in range(0, len(x), step)]
        )

    def _check_inputs(self, inputs: tuple) -> list[np.ndarray]:
        specs = self.graph.inputs
        if len(inputs) != len(specs):
            names = ", ".join(repr(spec.name) for spec in specs)
            raise ValueError(
                f"the network takes {len(specs)} input(s) ({names}), got {len(inputs)}"
            )
        arrays = []
        for spec, x in zip(specs, inputs):
            if spec.dtype == "int64":
                x = np.asarray(x)
                if not np.issubdtype(x.dtype, np.integer):
                    raise ValueError(f"input {spec.name!r} must be integers, got {x.dtype}")
                x = x.astype(np.int64, copy=False)
            else:
                x = np.asarray(x, dtype=np.float32)
            if spec.shape is None:
                wrong, want = x.ndim < 2, "(N, ...)"
            else:
                wrong = x.ndim != len(spec.shape) + 1 or x.shape[1:] != tuple(spec.shape)
                want = str((-1, *spec.shape)).replace("-1", "N")
            if wrong:
                raise ValueError(
                    f"input {spec.name!r} must be {want} with a batch dimension, got shape "
                    f"{x.shape}"
                )
            if x.shape[0] == 0:
                raise ValueError(f"input {spec.name!r} has no samples")
            arrays.append(x)
        return arrays

    def _run_batch(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        fixed = self.arithmetic == "fixed16"
        values: dict[str, object] = {}
        for spec, x in zip(self.graph.inputs, arrays):
            values[spec.name] = fx.Fixed.from_float(x) if fixed and x.dtype.kind == "f" else x
        for step in self._steps:
            args = [values[v] for v in step.node.inputs]
            try:
                outputs = self._run_fixed16(step, args) if fixed else step.run(*args)
            except (ValueError, IndexError) as error:
                raise ValueError(f"network op {step.node.describe()}: {error}") from None
            for value in step.release:
                del values[value]
            values.update(zip(step.outputs, outputs))
        results = [values[v] for v in self.graph.outputs]
        return [r.to_float() if isinstance(r, fx.Fixed) else r for r in results]

    @staticmethod
    def _run_fixed16(step: _Step, args: list) -> tuple:
        if step.weight is not None:
            return (step.weight.run_fixed16(args[0]),)
        state = args[0]
        first, *rest = step.run(state.q)
        return (fx.Fixed(first, state.f), *rest)


def _as_tuple(function: Callable) -> Callable[..., tuple]:
    def run(*inputs):
        result = function(*inputs)
        return result if isinstance(result, tuple) else (result,)

    return run
