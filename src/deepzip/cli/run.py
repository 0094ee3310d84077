"""The ``run`` command: a .dzip model run by the EIE engine on the test split (accuracy and
latency)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from deepzip.cli.console import out, percent, print_json
from deepzip.cli.options import (
    data_option,
    fail_cleanly,
    json_option,
    load_data,
)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_option
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Inputs per engine call.",
)
@click.option(
    "--pes",
    type=click.IntRange(min=1),
    help="Processing elements (threads' row slices). Default: the number of threads.",
)
@click.option(
    "--arithmetic",
    type=click.Choice(["float32", "fixed16"]),
    default="float32",
    show_default=True,
    help="float32, or EIE's 16-bit fixed point.",
)
@click.option("--test-limit", type=click.IntRange(min=1), help="Run only the first N test images.")
@json_option
@fail_cleanly
def run(
    file: Path,
    data_dir: Path | None,
    batch: int,
    pes: int | None,
    arithmetic: str,
    test_limit: int | None,
    as_json: bool,
) -> None:
    """Run a .dzip model with the EIE engine on the test split: accuracy and latency."""
    from deepzip.engine import Engine

    engine = Engine.load(file, pes=pes, arithmetic=arithmetic)
    data = load_data(data_dir).subset(None, test_limit)
    x = data.test_x.numpy()
    labels = data.test_y.numpy()
    engine.run(x[:batch])  # warm-up: compiles or loads the kernels
    result = measure_engine(engine, x, labels, batch)
    threads = engine_threads()
    dense = measure_torch(dense_torch_model(engine.model), x, labels, batch, threads)
    summary = {
        "file": str(file),
        "batch": batch,
        "pes": engine.pes,
        "threads": threads,
        "arithmetic": arithmetic,
        **result,
        "torch_latency_us": dense["latency_us"],
        "torch_accuracy": dense["accuracy"],
    }
    if as_json:
        print_json(summary)
        return
    out.print(
        f"{file}: accuracy {percent(result['accuracy'])} (error {percent(1 - result['accuracy'])}) "
        f"on {result['inputs']:,} test images; {result['latency_us']:.1f} µs per input at batch "
        f"{batch}, {engine.pes} PEs, {arithmetic}"
    )
    speedup = dense["latency_us"] / result["latency_us"]
    out.print(
        f"the same network run densely by PyTorch on the same inputs: {dense['latency_us']:.1f} µs "
        f"per input, so the engine runs at {speedup:.2f}× PyTorch's speed; both on {threads} "
        f"thread{'s' if threads != 1 else ''}"
    )


def engine_threads() -> int:
    """The threads the engine's kernels run on (numba's), which torch is given too."""
    import numba

    return int(numba.get_num_threads())


def dense_torch_model(compressed: Any) -> Any:
    """The file's network as a dense torch module (the comparison the engine must beat)."""
    from deepzip.network import to_torch

    return to_torch(compressed)


def measure_torch(model: Any, x: Any, labels: Any, batch: int, threads: int) -> dict[str, Any]:
    """As ``measure_engine``, for a dense torch module on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    inputs = torch.from_numpy(x)
    predicted = []
    with torch.inference_mode():
        model(inputs[:batch])  # warm-up, as for the engine
        start = time.perf_counter()
        for i in range(0, len(inputs), batch):
            predicted.append(model(inputs[i : i + batch]).argmax(dim=1))
        seconds = time.perf_counter() - start
    return {
        "accuracy": float((torch.cat(predicted).numpy() == labels).mean()),
        "latency_us": 1e6 * seconds / len(x),
    }


def measure_engine(engine: Any, x: Any, labels: Any, batch: int) -> dict[str, Any]:
    """Accuracy over all of ``x`` and the mean wall time per input, in batches of ``batch``."""
    start = time.perf_counter()
    predicted = engine.classify(x, batch)
    seconds = time.perf_counter() - start
    return {
        "accuracy": float((predicted == labels).mean()),
        "inputs": len(x),
        "latency_us": 1e6 * seconds / len(x),
    }
