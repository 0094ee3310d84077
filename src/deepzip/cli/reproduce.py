"""The ``reproduce`` command: Deep Compression's MNIST experiments end to end, side by side with
the paper's tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from deepzip.cli import console
from deepzip.cli.console import err, out, percent, print_json
from deepzip.cli.options import (
    data_option,
    fail_cleanly,
    json_option,
    load_data,
)


@click.command()
@click.argument("network", type=click.Choice(["lenet-300-100", "lenet-5"]))
@data_option
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The paper point's .dzip (the other point goes beside it). Default: <network>.dzip.",
)
@click.option(
    "--figures",
    "figures_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the PNG figures go. Default: <out stem>-figures/.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Checkpoints; an interrupted run resumes. Default: <out>.stages/",
)
@click.option(
    "--point",
    type=click.Choice(["paper", "beyond", "both"]),
    default="both",
    show_default=True,
    help="Which operating points to run.",
)
@click.option(
    "--restart", is_flag=True, help="Ignore existing checkpoints and train everything again."
)
@click.option(
    "--report",
    "write_html",
    is_flag=True,
    help="After writing the .dzip files, write the paper point's HTML report beside it.",
)
@json_option
@fail_cleanly
def reproduce(
    network: str,
    data_dir: Path | None,
    out_path: Path | None,
    figures_dir: Path | None,
    work_dir: Path | None,
    point: str,
    restart: bool,
    write_html: bool,
    as_json: bool,
) -> None:
    """Reproduce Deep Compression on MNIST from scratch, then a sparser point beyond it."""
    from deepzip.reproduce import RECIPES
    from deepzip.reproduce import reproduce as run_reproduction

    out_path = out_path or Path(f"{network}.dzip")
    figures_dir = figures_dir or out_path.with_name(f"{out_path.stem}-figures")
    work_dir = work_dir or out_path.with_name(out_path.name + ".stages")
    points = ("paper", "beyond") if point == "both" else (point,)
    data = load_data(data_dir)
    err.print(f"[dim]checkpoints: {work_dir}; figures: {figures_dir}[/dim]")

    def finished(name: str, entry: dict[str, Any]) -> None:
        err.print(
            f"[bold]{name} point[/bold]: error {percent(entry['error'])} through the .dzip file "
            f"with the engine, {entry['ratio']:.1f}× ({entry['file_bytes']:,} bytes)"
        )

    summary = run_reproduction(
        network,
        data,
        work_dir,
        out_path,
        figures_dir,
        points,
        console.ProgressReporter(),
        finished,
        restart=restart,
    )
    if write_html:
        from deepzip.report.html import write_report

        err.print(f"[dim]report: {write_report(out_path, work_dir=work_dir)}[/dim]")
    if as_json:
        print_json(summary)
        return
    recipe = RECIPES[network]
    _print_reproduction(network, recipe, summary)


def _print_reproduction(network: str, recipe: Any, summary: dict[str, Any]) -> None:
    from rich.table import Table

    paper = recipe.paper
    table = Table(title=f"{network}: Deep Compression (Table 1) side by side")
    for col in ("", "baseline error", "error", "size", "ratio"):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row(
        "paper",
        percent(paper.baseline_error),
        percent(paper.error),
        f"{paper.compressed_kb} KB of {paper.dense_kb} KB",
        f"{paper.ratio:.0f}×",
    )
    ratio, error = recipe.best_published
    table.add_row("best published (Soft Weight-Sharing)", "", percent(error), "", f"{ratio:.0f}×")
    for name, entry in summary["points"].items():
        table.add_row(
            f"deepzip, {name} point (through the .dzip file)",
            percent(summary["baseline_error"]),
            percent(entry["error"]),
            f"{entry['file_bytes'] / 1000:.1f} KB of {entry['dense_bytes'] / 1000:.0f} KB",
            f"{entry['ratio']:.1f}×",
        )
    out.print(table)
    for name, entry in summary["points"].items():
        layers = Table(title=f"{name} point: per layer (Deep Compression Tables 2/3 columns)")
        for col in (
            "layer",
            "weights",
            "kept",
            "paper kept",
            "weight bits P+Q",
            "P+Q+H",
            "index bits P+Q",
            "P+Q+H",
            "rate P+Q",
            "P+Q+H",
        ):
            layers.add_column(col, justify="left" if col == "layer" else "right")
        paper_sparsity = recipe.paper_point.sparsity
        for row in [*entry["inspect"]["layers"], entry["inspect"]["total"]]:
            layer = row["name"]
            layers.add_row(
                layer,
                f"{row['weights']:,}",
                percent(row["kept"]),
                percent(1 - paper_sparsity[layer]) if layer in paper_sparsity else "",
                f"{row['weight_bits_pq']:.1f}",
                f"{row['weight_bits_pqh']:.2f}",
                f"{row['index_bits_pq']:.1f}",
                f"{row['index_bits_pqh']:.2f}",
                percent(row["rate_pq"]),
                percent(row["rate_pqh"]),
            )
        out.print(layers)
