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
    summary = {
        "file": str(file),
        "batch": batch,
        "pes": engine.pes,
        "arithmetic": arithmetic,
        **result,
    }
    if as_json:
        print_json(summary)
        return
    out.print(
        f"{file}: accuracy {percent(result['accuracy'])} (error {percent(1 - result['accuracy'])}) "
        f"on {result['inputs']:,} test images; {result['latency_us']:.1f} µs per input at batch "
        f"{batch}, {engine.pes} PEs, {arithmetic}"
    )


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
