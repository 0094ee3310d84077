"""The ``dsd`` command: dense → sparse → re-dense training (Han et al. 2017)."""

from __future__ import annotations

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
    model_option,
    normalize_option,
    normalized,
    seed_option,
    weights_option,
)


@click.command()
@model_option
@weights_option("Trained weights; without them a built-in model is trained first.")
@data_option
@click.option(
    "--sparsity",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.3,
    show_default=True,
    help="Fraction pruned in the sparse phase.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=15,
    show_default=True,
    help="Baseline epochs (when training first).",
)
@click.option(
    "--phase-epochs",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Epochs of the sparse and of the re-dense phase.",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=0.05,
    show_default=True,
    help="The original learning rate; re-dense trains at 1/10 of it.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the DSD-trained weights here (.safetensors).",
)
@normalize_option
@json_option
@seed_option
@limit_options
@fail_cleanly
def dsd(
    model: str,
    weights: Path | None,
    data_dir: Path | None,
    sparsity: float,
    epochs: int,
    phase_epochs: int,
    lr: float,
    out_path: Path | None,
    normalize: str | None,
    as_json: bool,
    seed: int,
    train_limit: int | None,
    test_limit: int | None,
) -> None:
    """Dense → sparse → re-dense (DSD) training, Han et al. 2017."""
    from deepzip.dsd import DSDConfig
    from deepzip.dsd import dsd as run_dsd
    from deepzip.pipeline import CompressConfig, build, save_state_dict, train_stage
    from deepzip.training import TrainConfig, evaluate

    data = normalized(load_data(data_dir).subset(train_limit, test_limit), normalize)
    base = TrainConfig(epochs=epochs, lr=lr, seed=seed)
    net = build(CompressConfig(model=model, weights=str(weights) if weights else None, train=base))
    errors: dict[str, float] = {}

    def run_stage(name: str, cfg: TrainConfig) -> None:
        errors[name] = train_stage(net, data, name, cfg, console.ProgressReporter()).error

    if weights is None:
        run_stage("dense", base)
    else:
        errors["dense"] = 1 - evaluate(net, data.test_x, data.test_y)
    run_dsd(
        net,
        lambda m, phase, f: run_stage(phase, base.retraining(phase_epochs, f)),
        DSDConfig(sparsity=sparsity),
    )
    if out_path is not None:
        save_state_dict(out_path, net.state_dict())
    summary = {
        "dense_error": errors["dense"],
        "sparse_error": errors["sparse"],
        "redense_error": errors["redense"],
        "sparsity": sparsity,
    }
    if as_json:
        print_json(summary)
        return
    out.print(
        f"DSD: error dense {percent(errors['dense'])} → sparse {percent(errors['sparse'])} "
        f"→ re-dense {percent(errors['redense'])}"
    )
