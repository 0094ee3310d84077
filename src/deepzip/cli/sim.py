"""The ``sim`` command: the cycle-level EIE accelerator simulator on a .dzip file or a benchmark
layer (EIE §III–VI).
"""

from __future__ import annotations

from pathlib import Path

import click

from deepzip.cli.console import err, out, percent, print_json
from deepzip.cli.options import (
    fail_cleanly,
    json_option,
    seed_option,
)


@click.command()
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--layer",
    "layer_name",
    type=click.Choice(
        ["alex-6", "alex-7", "alex-8", "vgg-6", "vgg-7", "vgg-8", "nt-we", "nt-wd", "nt-lstm"]
    ),
    help="One of EIE's benchmark layers (Table III), synthetic, instead of a file.",
)
@click.option(
    "--pes", type=click.IntRange(min=1), default=64, show_default=True, help="Processing elements."
)
@click.option(
    "--fifo",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Activation queue depth per PE.",
)
@click.option(
    "--clock",
    type=click.FloatRange(min=0, min_open=True),
    default=800.0,
    show_default=True,
    help="Clock in MHz.",
)
@seed_option
@click.option(
    "--figures",
    "figures_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also draw the design-space figures (FIFO depth, number of PEs) here.",
)
@json_option
@fail_cleanly
def sim(
    file: Path | None,
    layer_name: str | None,
    pes: int,
    fifo: int,
    clock: float,
    seed: int,
    figures_dir: Path | None,
    as_json: bool,
) -> None:
    """Simulate the EIE accelerator cycle by cycle on a .dzip file or a benchmark layer."""
    from deepzip.sim import SimConfig, design_space, simulate_benchmark, simulate_file

    if (file is None) == (layer_name is None):
        raise click.UsageError("give a .dzip FILE or --layer NAME (one of them)")
    config = SimConfig(pes=pes, fifo_depth=fifo, clock_hz=clock * 1e6)
    if layer_name is not None:
        result = simulate_benchmark(layer_name, config, seed).to_dict()
        rows = [{"name": layer_name, **result}]
    else:
        result = simulate_file(file, config, seed).to_dict()
        rows = result["layers"]
    if figures_dir is not None:
        from deepzip.report.figures import design_space_figures

        for path in design_space_figures(figures_dir, design_space(config=config, seed=seed)):
            err.print(f"[dim]wrote {path}[/dim]")
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    table = Table(title=f"EIE simulation: {pes} PEs, FIFO depth {fifo}, {clock:g} MHz")
    for col in (
        "layer",
        "cycles",
        "latency µs",
        "load efficiency",
        "stall cycles",
        "filler zeros",
        "GOP/s",
        "energy µJ",
    ):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for row in rows:
        table.add_row(
            str(row.get("name", "")),
            f"{row['cycles']:,}",
            f"{row['latency_us']:.2f}",
            percent(row["load_efficiency"]),
            f"{row.get('stall_cycles', 0):,}",
            f"{row.get('counts', {}).get('filler_zeros', 0):,}",
            f"{row.get('gops', 0):.1f}",
            f"{row['energy_uj']:.3f}",
        )
    out.print(table)
