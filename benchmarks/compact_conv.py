"""Benchmark: the compact nets' convolutions at the published input size, batch 1 (issue 12).

Two networks of ``deepzip.models.CATALOGUE`` at 224x224, batch 1, with seeded synthetic weights
(``torch.manual_seed(0)``; BatchNorm statistics and affine parameters seeded too, as in
``published_sizes``, then folded into the convolutions):

- ``mobilenet-v1-1.0`` at the sparse-MobileNet setting of Elsen et al. 2020 ("Fast Sparse
  ConvNets"): every pointwise (1x1) convolution pruned to 10% kept (magnitude, per layer); the
  first convolution, the depthwise convolutions and the classifier keep all their weights. Every
  layer is weight-shared with 8-bit codes (at most one cluster per 4 kept weights) and stored
  compressed, the dense ones too (all weights kept);
- ``squeezenet-1.1`` at Deep Compression's SqueezeNet setting (Iandola et al. 2016, Table 2): every
  layer 33% kept, 6-bit codes, as ``published_sizes``.

Index widths are chosen per layer by size, codebooks and biases are 16-bit (as ``published_sizes``).

Methods, every one at ``--threads`` threads (numba's, torch's, ONNX Runtime's intra-op threads):
deepzip's engine from the .dzip file (``pes`` = threads); torch dense, the same network with
BatchNorm folded and the file's decompressed weights, in eval mode under
``torch.inference_mode``; ONNX Runtime (``onnxruntime``, the benchmark extra) on that dense model
exported with ``torch.onnx.export``, one inter-op thread, sequential execution, all graph
optimisations. Warm-up calls, then methods interleaved round by round
(``engine_bench.time_interleaved``), each call on the next of a pool of different inputs; the
median per call is reported, with the fastest. The outputs are compared with torch dense's (max
difference over the output's scale).

The engine's time is also split by kind of op (pointwise, depthwise and other convolutions, then
every other op by name): the median over a few instrumented calls of each kind's sum.

Target: the engine at least 1.5x faster than torch dense on both networks.

    python benchmarks/compact_conv.py [--json PATH] [--threads N] [--seconds S] [--only NAME]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deepzip.capture import fold_batchnorm
from deepzip.container import read_dzip, write_dzip
from deepzip.engine import Engine
from deepzip.models import CATALOGUE, build_model
from deepzip.network import dense_state_dict, to_compressed_model
from deepzip.prune import PruneConfig, iterative_prune
from deepzip.share import QuantizeConfig, share_weights
from published_sizes import seed_batchnorm

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "compact_conv.json"
TARGET = 1.5  # engine speedup over torch dense
SETTINGS = {
    "mobilenet-v1-1.0": {
        "pointwise_kept": 0.10,
        "other_kept": 1.0,
        "bits": 8,
        "text": "pointwise (1x1) convolutions 10% kept (magnitude, per layer); first convolution, "
        "depthwise convolutions and classifier all weights kept; every layer weight-shared with "
        "8-bit codes (at most one cluster per 4 kept weights) and stored compressed",
    },
    "squeezenet-1.1": {
        "pointwise_kept": 0.33,
        "other_kept": 0.33,
        "bits": 6,
        "text": "every layer 33% kept (magnitude, per layer), 6-bit codes (at most one cluster per "
        "4 kept weights): Deep Compression's SqueezeNet setting",
    },
}
COMMON = "index widths chosen per layer, 16-bit codebooks and biases, BatchNorm folded"


def _folded(name: str, example: torch.Tensor) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name).eval()
    with torch.no_grad():
        seed_batchnorm(model, torch.Generator().manual_seed(1))
    return fold_batchnorm(model, (example,))


def _is_pointwise(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.Conv2d) and module.kernel_size == (1, 1)


def compress(name: str, example: torch.Tensor, path: Path) -> dict:
    """Prune, share and write the network at its setting; its layers' kept fractions by kind."""
    setting = SETTINGS[name]
    model = _folded(name, example)
    sparsity = {}
    for module_name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            kept = setting["pointwise_kept"] if _is_pointwise(module) else setting["other_kept"]
            if kept < 1.0:
                sparsity[module_name] = 1.0 - kept
    prune = PruneConfig(sparsity=sparsity, steps=1, retrain_epochs=0)
    iterative_prune(model, prune, lambda m, s: None)
    bits = setting["bits"]
    quantize = QuantizeConfig(conv_bits=bits, fc_bits=bits, value_bits=16, auto_index_bits=True)
    share_weights(model, quantize)
    compressed = to_compressed_model(model, quantize, example_inputs=(example,))
    write_dzip(path, compressed)
    return {"pruned_layers": len(sparsity), "file_bytes": path.stat().st_size}


def _kind(step) -> str:
    """The engine step's kind of op, for the time breakdown."""
    weight, op = step.weight, step.node.op
    if weight is not None and op in ("conv1d", "conv2d"):
        return {"conv": "conv kxk", None: "conv kxk (im2col)"}.get(weight.direct, weight.direct)
    return op


def engine_breakdown(engine: Engine, x: np.ndarray, calls: int) -> dict[str, float]:
    """Milliseconds per call spent in each kind of op: the median over ``calls`` instrumented
    runs (the engine's steps are wrapped with timers; a benchmark may look inside)."""
    totals: dict[str, list[float]] = {}
    originals = [step.run for step in engine._steps]
    current: dict[str, float] = {}

    def timed(run, kind):
        def wrapper(*args):
            start = time.perf_counter()
            result = run(*args)
            current[kind] = current.get(kind, 0.0) + time.perf_counter() - start
            return result

        return wrapper

    try:
        for step in engine._steps:
            step.run = timed(step.run, _kind(step))
        for _ in range(calls):
            current.clear()
            engine.run(x)
            for kind, seconds in current.items():
                totals.setdefault(kind, []).append(seconds)
    finally:
        for step, run in zip(engine._steps, originals):
            step.run = run
    return {kind: statistics.median(s) * 1e3 for kind, s in sorted(totals.items())}


def onnx_session(model: torch.nn.Module, example: torch.Tensor, threads: int, directory: Path):
    import onnxruntime

    path = directory / "model.onnx"
    torch.onnx.export(
        model, (example,), str(path), input_names=["x"], output_names=["y"], verbose=False
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session, onnxruntime.__version__


def _difference(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-12))


def measure(name: str, threads: int, seconds: float, directory: Path) -> dict:
    from engine_bench import POOL, time_interleaved  # POOL: different inputs, used in turn

    shape = CATALOGUE[name].input_shape
    inputs = np.random.default_rng(0).random((POOL, 1, *shape), dtype=np.float32)
    example = torch.from_numpy(inputs[0])
    path = directory / f"{name}.dzip"
    start = time.perf_counter()
    stored = compress(name, example, path)
    compress_s = time.perf_counter() - start

    compressed = read_dzip(path)
    engine = Engine(compressed, pes=threads)
    dense = _folded(name, example)
    dense.load_state_dict(dense_state_dict(compressed), strict=True)
    session, ort_version = onnx_session(dense, example, threads, directory)
    torch_inputs = [torch.from_numpy(x) for x in inputs]

    def run_engine(i: int) -> np.ndarray:
        return engine.run(inputs[i])

    def run_torch(i: int) -> np.ndarray:
        with torch.inference_mode():
            return dense(torch_inputs[i]).numpy()

    def run_onnx(i: int) -> np.ndarray:
        return session.run(None, {"x": inputs[i]})[0]

    expected = run_torch(0)
    calls = {"engine": run_engine, "torch dense": run_torch, "onnxruntime": run_onnx}
    differences = {k: _difference(f(0), expected) for k, f in calls.items() if k != "torch dense"}
    medians, fastest = time_interleaved(calls, rounds=10, budget_s=seconds)
    breakdown = engine_breakdown(engine, inputs[0], calls=5)
    speedup = medians["torch dense"] / medians["engine"]
    layers = {}
    groups = {node.layer: node.attrs.get("groups", 1) for node in compressed.network.nodes}
    for layer in compressed.layers:
        kind = layer.kind
        if kind == "conv2d":
            kind = "pointwise" if tuple(layer.weight_shape[2:]) == (1, 1) else "conv kxk"
            if groups.get(layer.name, 1) > 1 and layer.weight_shape[1] == 1:
                kind = "depthwise"
        entry = layers.setdefault(kind, {"layers": 0, "weights": 0, "kept": 0})
        entry["layers"] += 1
        entry["weights"] += int(np.prod(layer.weight_shape))
        entry["kept"] += int(layer.num_kept)
    return {
        "model": name,
        "input_shape": [1, *shape],
        "setting": f"{SETTINGS[name]['text']}; {COMMON}",
        "layers_by_kind": layers,
        "file_bytes": stored["file_bytes"],
        "compress_seconds": compress_s,
        "onnxruntime_version": ort_version,
        "median_ms": {k: v * 1e3 for k, v in medians.items()},
        "fastest_ms": {k: v * 1e3 for k, v in fastest.items()},
        "engine_breakdown_ms": breakdown,
        "speedup_vs_torch_dense": speedup,
        "speedup_vs_onnxruntime": medians["onnxruntime"] / medians["engine"],
        "target": f"engine >= {TARGET}x torch dense",
        "target_met": bool(speedup >= TARGET),
        "output_difference": differences,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0, help="timing budget per network")
    parser.add_argument("--only", nargs="*", default=None, choices=sorted(SETTINGS))
    args = parser.parse_args()
    # The benchmark extra's (threadpoolctl, onnxruntime): imported here.
    from engine_bench import machine_info, set_threads, write_json

    methods = ("engine", "torch dense", "onnxruntime")
    rows = []
    with set_threads(args.threads), tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(SETTINGS):
            row = measure(name, args.threads, args.seconds, Path(tmp))
            rows.append(row)
            ms = row["median_ms"]
            times = "  ".join(f"{method} {ms[method]:7.2f} ms" for method in methods)
            print(
                f"{name:<18} {times}   engine {row['speedup_vs_torch_dense']:4.2f}x torch dense, "
                f"{row['speedup_vs_onnxruntime']:4.2f}x onnxruntime (target "
                f"{'met' if row['target_met'] else 'NOT met'})",
                flush=True,
            )
            parts = "  ".join(f"{k} {v:.2f}" for k, v in row["engine_breakdown_ms"].items())
            print(f"{'':<18} engine ms by kind: {parts}", flush=True)
        info = machine_info(args.threads)
    write_json(
        args.json, "compact_conv", args.threads, info, methods=methods, target=TARGET,
        networks=rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
