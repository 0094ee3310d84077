"""The published-size networks through the format and the engine (issue 11): structure, size and
speed only, NOT trained results.

Each published-size network of ``deepzip.models.CATALOGUE`` (SqueezeNet 1.0 and 1.1, SqueezeNext
1.0-23, MobileNet v1 1.0 and v2 1.0, ENet, SegNet, SqueezeDet) is built with seeded random weights
(``torch.manual_seed(0)``; BatchNorm statistics and affine parameters seeded too, so that folding
is not the identity), BatchNorm folded, and compressed at one stated setting, the SqueezeNet
paper's Deep Compression setting (Iandola et al. 2016, Table 2: 33% of the weights, 6-bit
codes) applied to every layer: magnitude pruning to 33% kept in each layer, 6-bit weight codes
(capped by the usual one cluster per 4 kept weights), per-layer index widths chosen by size,
16-bit codebooks and biases. The file is written, its ``deepzip inspect`` table kept, and the
engine runs it on one input of the published resolution (batch 1, ``--threads`` threads);
its output is compared with the compressed PyTorch model's, and both are timed (median of a
few runs after one warm-up; the same threads for both).

Random weights say nothing about accuracy; the sizes they give are what the format makes of
the real shapes at that density and those bits (random values have a flatter code
distribution than trained ones, so Huffman coding gains less than on a trained network).

    python benchmarks/published_sizes.py [--json PATH] [--threads N] [--only NAME ...]
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
from deepzip.container import dzip_sizes, read_dzip, write_dzip
from deepzip.engine import Engine
from deepzip.models import CATALOGUE, build_model, count_parameters
from deepzip.network import to_compressed_model
from deepzip.prune import PruneConfig, iterative_prune
from deepzip.report.inspect import inspect_report
from deepzip.share import QuantizeConfig, share_weights

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "published_sizes.json"
KEPT = 0.33
BITS = 6
SETTING = (
    f"every layer {KEPT:.0%} kept (magnitude), {BITS}-bit weight codes (at most one cluster per 4 "
    "kept weights), index widths chosen per layer, 16-bit codebooks and biases"
)
PUBLISHED = [name for name, entry in CATALOGUE.items() if entry.reference is not None]


def seed_batchnorm(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Seeded BatchNorm statistics and affine parameters, so that folding is not the identity."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            if module.affine:
                module.weight.data.copy_(0.5 + torch.rand(n, generator=generator))
                module.bias.data.copy_(0.1 * torch.randn(n, generator=generator))


def _median_seconds(call, repeat: int) -> float:
    call()  # warm-up: compilation, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, threads: int, repeat: int, directory: Path) -> dict:
    entry = CATALOGUE[name]
    torch.manual_seed(0)
    model = build_model(name).eval()
    with torch.no_grad():
        seed_batchnorm(model, torch.Generator().manual_seed(1))
    x = torch.from_numpy(np.random.default_rng(0).random((1, *entry.input_shape), np.float32))
    start = time.perf_counter()
    fold_batchnorm(model, (x,))
    iterative_prune(
        model, PruneConfig(sparsity=1 - KEPT, steps=1, retrain_epochs=0), lambda m, s: None
    )
    quantize = QuantizeConfig(conv_bits=BITS, fc_bits=BITS, value_bits=16, auto_index_bits=True)
    share_weights(model, quantize)
    compressed = to_compressed_model(model, quantize, example_inputs=(x,))
    path = directory / f"{name}.dzip"
    write_dzip(path, compressed)
    compress_s = time.perf_counter() - start

    engine = Engine(read_dzip(path), pes=threads)
    with torch.inference_mode():
        expected = model(x)
        expected = expected[0] if isinstance(expected, tuple) else expected
        expected = expected.numpy()
    actual = engine.run(x.numpy())
    actual = actual[0] if isinstance(actual, tuple) else actual
    difference = float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-12))

    def run_torch() -> None:
        with torch.inference_mode():
            model(x)

    engine_s = _median_seconds(lambda: engine.run(x.numpy()), repeat)
    torch_s = _median_seconds(run_torch, repeat)
    report = inspect_report(dzip_sizes(path)).to_dict()
    return {
        "model": name,
        "input_shape": [1, *entry.input_shape],
        "parameters": count_parameters(build_model(name)),
        "reference": {"parameters": entry.reference.parameters, "source": entry.reference.source},
        "dense_bytes": report["dense_bytes"],
        "file_bytes": report["file_bytes"],
        "ratio": report["dense_bytes"] / report["file_bytes"],
        "inspect": report,
        "output_shape": list(actual.shape),
        "output_difference": difference,
        "engine_ms": engine_s * 1e3,
        "torch_ms": torch_s * 1e3,
        "compress_seconds": compress_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, choices=PUBLISHED)
    args = parser.parse_args()
    # The benchmark extra's (threadpoolctl): imported here, so that ``measure`` needs only the
    # test extra.
    from engine_bench import machine_info, set_threads, write_json

    rows = []
    with set_threads(args.threads), tempfile.TemporaryDirectory() as tmp:
        for name in args.only or PUBLISHED:
            row = measure(name, args.threads, args.repeat, Path(tmp))
            rows.append(row)
            print(
                f"{name:<22} {row['parameters']:>11,} weights  {row['file_bytes']:>10,} B  "
                f"{row['ratio']:5.1f}x  engine {row['engine_ms']:9.1f} ms  torch "
                f"{row['torch_ms']:8.1f} ms  outputs differ by {row['output_difference']:.1e}",
                flush=True,
            )
        info = machine_info(args.threads)
    write_json(args.json, "published_sizes", args.threads, info, setting=SETTING, networks=rows)


if __name__ == "__main__":
    main()
