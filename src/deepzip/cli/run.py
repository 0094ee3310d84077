"""The ``run`` command: a .dzip model run by the EIE engine on the test split (accuracy and
latency)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from deepzip.cli.console import err, out, percent, print_json
from deepzip.cli.options import (
    check_outputs,
    data_option,
    fail_cleanly,
    json_option,
    load_data,
    normalize_option,
    parse_normalize,
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
@normalize_option
@click.option(
    "--save-outputs",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the engine's outputs for the test inputs here (.npy, float32 (N, ...)).",
)
@json_option
@fail_cleanly
def run(
    file: Path,
    data_dir: Path | None,
    batch: int,
    pes: int | None,
    arithmetic: str,
    test_limit: int | None,
    normalize: str | None,
    save_outputs: Path | None,
    as_json: bool,
) -> None:
    """Run a .dzip model with the EIE engine on the test split: accuracy and latency, beside
    the same network run densely by PyTorch. The inputs get the normalization the file records."""
    from deepzip.engine import Engine
    from deepzip.preprocess import Normalization

    if save_outputs is not None:
        if save_outputs.suffix != ".npy":
            raise click.BadParameter("give a .npy file name", param_hint="--save-outputs")
        check_outputs(save_outputs, option="--save-outputs")
    engine = Engine.load(file, pes=pes, arithmetic=arithmetic)
    recorded = Normalization.from_tensors(engine.model.tensors)
    given = parse_normalize(normalize)
    if recorded is not None and given is not None and not recorded.agrees_with(given):
        raise click.BadParameter(
            f"{file} records the normalization the model was trained with ({recorded}); "
            f"--normalize gives {given}. Leave it out, or give the same values.",
            param_hint="--normalize",
        )
    norm = recorded or given
    x, labels = load_test_inputs(data_dir, test_limit)
    if norm is not None:
        x = norm.apply(x)
        err.print(f"[dim]inputs normalized: {norm}[/dim]")
    engine.run(x[:batch])  # warm-up: compiles or loads the kernels
    result = measure_engine(engine, x, labels, batch)
    if save_outputs is not None:
        np.save(save_outputs, result.pop("outputs"))
        err.print(f"[dim]wrote the outputs to {save_outputs}[/dim]")
    result.pop("outputs", None)
    threads = engine_threads()
    dense = measure_torch(dense_torch_model(engine.model.to_model()), x, labels, batch, threads)
    summary = {
        "file": str(file),
        "batch": batch,
        "pes": engine.pes,
        "threads": threads,
        "arithmetic": arithmetic,
        "normalization": None if norm is None else {"mean": norm.mean, "std": norm.std},
        **result,
        "torch_latency_us": dense["latency_us"],
        "torch_accuracy": dense["accuracy"],
    }
    if as_json:
        print_json(summary)
        return
    measured = (
        f"accuracy {percent(result['accuracy'])} (error {percent(1 - result['accuracy'])}) on "
        if result["accuracy"] is not None
        else "no labels, so no accuracy; ran "
    )
    out.print(
        f"{file}: {measured}{result['inputs']:,} test inputs; {result['latency_us']:.1f} µs per "
        f"input at batch {batch}, {engine.pes} PEs, {arithmetic}"
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

    from deepzip.metrics import accuracy

    torch.set_num_threads(threads)
    inputs = torch.from_numpy(np.ascontiguousarray(x))
    outputs = []
    with torch.inference_mode():
        model(inputs[:batch])  # warm-up, as for the engine
        start = time.perf_counter()
        for i in range(0, len(inputs), batch):
            outputs.append(model(inputs[i : i + batch]))
        seconds = time.perf_counter() - start
    return {
        "accuracy": None if labels is None else accuracy(torch.cat(outputs), labels),
        "latency_us": 1e6 * seconds / len(x),
    }


def load_test_inputs(data_dir: Path | None, limit: int | None) -> tuple[Any, Any]:
    """The test inputs (float32 numpy) and labels (None when a .npz/.safetensors file has none)."""
    from deepzip.data import load_array_file
    from deepzip.training import as_inputs

    if data_dir is not None and data_dir.is_file():
        arrays = load_array_file(data_dir, need_train=False)
        labels = None if arrays.y_test is None else np.asarray(arrays.y_test[:limit], np.int64)
        err.print(f"[dim]data: {arrays.source}: {len(arrays.x_test)} test inputs[/dim]")
        return as_inputs(arrays.x_test[:limit]).numpy(), labels
    data = load_data(data_dir).subset(None, limit)
    return data.test_x.numpy(), data.test_y.numpy()


def measure_engine(engine: Any, x: Any, labels: Any, batch: int) -> dict[str, Any]:
    """Accuracy over all of ``x`` (None without labels), the mean wall time per input in
    batches of ``batch``, and the outputs."""
    from deepzip.metrics import accuracy

    start = time.perf_counter()
    outputs = np.concatenate([engine.run(x[i : i + batch]) for i in range(0, len(x), batch)])
    seconds = time.perf_counter() - start
    return {
        "accuracy": None if labels is None else accuracy(outputs, labels),
        "inputs": len(x),
        "latency_us": 1e6 * seconds / len(x),
        "outputs": outputs,
    }
