"""The ``sensitivity`` command: accuracy against pruning ratio per layer (Han et al. 2015, Fig. 6)
and the sparsities it suggests under an accuracy budget.
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
    limit_options,
    load_data,
    model_option,
    normalize_option,
    normalized,
    seed_option,
    split_validation,
    val_size_option,
    weights_option,
)


@click.command()
@model_option
@weights_option("Trained weights; without them a built-in model is trained first.")
@data_option
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=15,
    show_default=True,
    help="Baseline epochs when training first.",
)
@click.option(
    "--ratios",
    default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95,0.97,0.99",
    show_default=True,
    help="Pruning ratios to try, comma-separated.",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0),
    default=0.005,
    show_default=True,
    help="Accuracy drop allowed per layer (absolute) when choosing sparsities.",
)
@normalize_option
@val_size_option("Default: 10% of the training examples, at most 5,000.")
@json_option
@seed_option
@limit_options
@fail_cleanly
def sensitivity(
    model: str,
    weights: Path | None,
    data_dir: Path | None,
    epochs: int,
    ratios: str,
    budget: float,
    normalize: str | None,
    val_size: int | None,
    as_json: bool,
    seed: int,
    train_limit: int | None,
    test_limit: int | None,
) -> None:
    """Accuracy vs pruning ratio per layer, without retraining (Han et al. 2015, Fig. 6),
    measured on a validation split of the training data (the last 10%, at most 5,000 examples,
    by default), which a baseline trained here is not trained on."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from deepzip.layers import compressible_layers
    from deepzip.pipeline import CompressConfig, build, train_stage
    from deepzip.prune.sensitivity import choose_sparsities, sensitivity_analysis
    from deepzip.training import TrainConfig, evaluate

    try:
        ratio_values = tuple(float(r) for r in ratios.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{ratios!r} is not a comma-separated list of numbers", param_hint="--ratios"
        ) from None
    data = load_data(data_dir).subset(train_limit, test_limit)
    data = normalized(split_validation(data, val_size), normalize)
    config = CompressConfig(
        model=model,
        weights=str(weights) if weights else None,
        train=TrainConfig(epochs=epochs, seed=seed),
    )
    net = build(config)
    if weights is None:
        train_stage(net, data, "baseline", config.train, console.ProgressReporter())

    def score(m: Any) -> float:
        return evaluate(m, data.val_x, data.val_y)

    total = len(ratio_values) * len(compressible_layers(net))
    columns = (TextColumn("sensitivity"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("sensitivity", total=total)
        result = sensitivity_analysis(
            net, score, ratio_values, on_point=lambda *_: bar.advance(task)
        )
    chosen = choose_sparsities(result, budget)
    if as_json:
        split = {"evaluated_on": "validation", "val_size": len(data.val_x)}
        print_json({**result.to_dict(), "budget": budget, "chosen_sparsity": chosen, **split})
        return
    table = Table(
        title=f"accuracy on the last {len(data.val_x):,} training examples (validation split) "
        f"vs pruning ratio (baseline {percent(result.baseline)})"
    )
    table.add_column("ratio", justify="right")
    for name in result.accuracy:
        table.add_column(name, justify="right")
    for i, ratio in enumerate(result.ratios):
        table.add_row(f"{ratio:.2f}", *(percent(acc[i]) for acc in result.accuracy.values()))
    out.print(table)
    out.print(
        "chosen sparsity within a budget of "
        + percent(budget)
        + ": "
        + ", ".join(f"{k}={v:.2f}" for k, v in chosen.items())
    )
