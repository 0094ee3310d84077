"""The ``demo`` command: LeNet-300-100 on real MNIST through the whole pipeline, to a .dzip file."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import click

from deepzip.cli import console
from deepzip.cli.console import out, percent, print_json
from deepzip.cli.options import (
    data_option,
    fail_cleanly,
    json_option,
    limit_options,
    load_data,
    seed_option,
)


@click.command()
@data_option
@json_option
@seed_option
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep stage checkpoints here (a rerun resumes). Default: a temporary folder.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the compressed model here (.dzip). Default: measured, then discarded.",
)
@limit_options
@fail_cleanly
def demo(
    data_dir: Path | None,
    as_json: bool,
    seed: int,
    work_dir: Path | None,
    out_path: Path | None,
    train_limit: int | None,
    test_limit: int | None,
) -> None:
    """Train LeNet-300-100 on real MNIST, prune, retrain, quantize, fine-tune; write a .dzip."""
    from deepzip.pipeline import demo_config, run_pipeline, write_result

    base = demo_config()
    config = replace(
        base,
        train=replace(base.train, seed=seed),
        train_subset=train_limit,
        test_subset=test_limit,
    )
    data = load_data(data_dir)
    with tempfile.TemporaryDirectory(prefix="deepzip-demo-") as tmp:
        result = run_pipeline(config, data, work_dir or tmp, console.ProgressReporter())
        file_info = write_result(result, out_path or Path(tmp) / "lenet-300-100.dzip")
    summary = {**console.stage_summary(result), **file_info}
    if out_path is None:
        del summary["out"]
    if as_json:
        print_json(summary)
        return
    out.print(console.stage_table(result.stages, "deepzip demo: LeNet-300-100 on MNIST"))
    out.print(console.layers_table(result))
    out.print(
        f"error {percent(summary['baseline_error'])} → {percent(summary['finetuned_error'])} "
        f"with {percent(summary['weights_kept'])} of the weights and "
        f"{', '.join(f'{layer.weight_bits}-bit' for layer in result.layers)} shared weights: "
        f"{summary['file_bytes']:,} bytes as a .dzip file, {summary['ratio']:.1f}× smaller than "
        f"the dense fp32 model ({summary['dense_bytes']:,} bytes)"
        + (f"; written to {out_path}" if out_path else "")
    )
