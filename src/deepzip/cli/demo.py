"""The ``demo`` command: LeNet-300-100 on real MNIST through the whole pipeline, to a .dzip file."""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import replace
from pathlib import Path

import click

from deepzip.cli import console
from deepzip.cli.console import err, out, percent, print_json
from deepzip.cli.options import (
    check_outputs,
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
    help="Write the compressed model here (.dzip). Default: lenet-300-100.dzip in the current "
    "folder (lenet-300-100-2.dzip, ... when that exists: nothing is overwritten unasked).",
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
    default_name = Path("lenet-300-100.dzip")
    chosen = out_path or _free_name(default_name)
    check_outputs(chosen, work_dir)
    if chosen != (out_path or default_name):
        err.print(f"[bold]{default_name} exists; this demo writes {chosen}[/bold]")
    elif out_path is not None and out_path.exists():
        err.print(f"[bold]{out_path} exists and will be overwritten (--out)[/bold]")
    data = load_data(data_dir)
    with tempfile.TemporaryDirectory(prefix="deepzip-demo-") as tmp:
        result = run_pipeline(config, data, work_dir or tmp, console.ProgressReporter())
    summary = {**console.stage_summary(result), **write_result(result, chosen, data.test_x[:2])}
    if as_json:
        print_json(summary)
        return
    out.print(console.stage_table(result.stages, "deepzip demo: LeNet-300-100 on MNIST"))
    out.print(console.layers_table(result))
    if note := console.capped_note(summary):
        out.print(note)
    out.print(
        f"error {percent(summary['baseline_error'])} → {percent(summary['finetuned_error'])} "
        f"with {percent(summary['weights_kept'])} of the weights and "
        f"{', '.join(f'{layer.weight_bits}-bit' for layer in result.layers)} shared weights: "
        f"{summary['file_bytes']:,} bytes as a .dzip file, {summary['ratio']:.1f}× smaller than "
        f"the dense fp32 model ({summary['dense_bytes']:,} bytes)"
    )
    out.print(f"\nwritten to {chosen.resolve()}\nnext, try:")
    for command in next_commands(chosen):
        out.print(f"  {command}")


def _free_name(path: Path) -> Path:
    """``path``, or the first of ``<stem>-2<suffix>``, ``<stem>-3<suffix>``, ... that is free."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def next_commands(path: Path) -> list[str]:
    """What to run on a fresh .dzip file: the commands that exist in this installation."""
    commands = [
        f"deepzip inspect {path}      # where the bytes go, per layer",
        f"deepzip run {path}          # run it with the EIE engine: accuracy and latency",
    ]
    if importlib.util.find_spec("deepzip.cli.report") is not None:
        commands.append(f"deepzip report {path}       # an HTML report of the file")
    return commands
